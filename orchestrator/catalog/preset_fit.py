"""A preset fitted to this install, once per catalog scan.

A preset names models and styles that may not be here (Fooocus's default preset names a Juggernaut
checkpoint, the SDXL offset LoRA and Fooocus's own styles). Each scan replaces a missing checkpoint (by
the preset's earlier default, else the first one found) and leaves out a missing refiner, VAE, LoRA or
style, and the prompt expansion remgo does not run. The preset's `values` then say what a job really
gets, the page shows exactly that, and each change is said once (`adjustments`: the start-up log, the
page's status, GET /v1/presets) instead of in every job's warnings.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import msgspec

from contract.request import LoraEntry
from orchestrator.catalog.model_info import lora_fits, refines_only
from orchestrator.catalog.models import ModelFile, ModelKind
from orchestrator.catalog.presets import FOOOCUS_KEYS, Preset
from orchestrator.catalog.snapshot import CatalogSnapshot
from orchestrator.catalog.styles import (
    PROMPT_EXPANSION,
    PROMPT_EXPANSION_AVAILABLE,
    RANDOM_STYLE,
    normalize_style_name,
)

NONE = "None"  # Fooocus's name for no refiner and for an empty LoRA slot
MODEL_VAE = "Default (model)"
# Names a preset uses for "none" (Fooocus writes "None" and "Default (model)").
NONE_NAMES = frozenset({"", "None", "none", MODEL_VAE})
IMPORT_HINT = "`remgo styles import /path/to/Fooocus` adds Fooocus's styles"


def _found(snap: CatalogSnapshot, kind: ModelKind, name: str) -> bool:
    return name.replace("\\", "/") in snap.models[kind]


def _plural(names: list[str], one: str, many: str) -> str:
    return f"{one} {names[0]} is" if len(names) == 1 else f"{many} {', '.join(names)} are"


class _Fitter:
    def __init__(self, preset: Preset, snap: CatalogSnapshot) -> None:
        self.preset = preset
        self.snap = snap
        self.v = preset.values
        self.changes: dict[str, Any] = {}
        self.notes: list[str] = []
        self.dropped_loras: set[str] = set()

    def base_model(self) -> None:
        name = self.v.base_model_name
        bases = {n: m for n, m in self.snap.models[ModelKind.checkpoints].items() if not refines_only(m)}
        if name is None or name.strip() in NONE_NAMES or name in bases:
            return
        if not bases:
            return  # a job says what is missing and where to put it
        installed = _found(self.snap, ModelKind.checkpoints, name)  # and so a refiner-architecture file
        earlier = next((p for p in self.preset.previous_default_models if p in bases), None)
        used = earlier or next(iter(bases))
        why = "an earlier default of this preset" if earlier else "the first checkpoint found"
        self.changes["base_model_name"] = used
        lacks = "is a refiner-architecture checkpoint, never a base" if installed else "is not installed"
        self.notes.append(f"checkpoint {name} {lacks}; {used} ({why}) is used")

    def optional_model(self, field: str, kind: ModelKind, label: str, none: str, instead: str) -> None:
        name = getattr(self.v, field)
        if name is None or name.strip() in NONE_NAMES or _found(self.snap, kind, name):
            return
        self.changes[field] = none
        self.notes.append(f"{label} {name} is not installed; {instead}")

    def loras(self, describe: Callable[[ModelFile], ModelFile]) -> None:
        kept: list[Any] = []
        missing: list[str] = []
        base = self.base()
        for item in self.v.loras or []:
            name = item.name if isinstance(item, LoraEntry) else item[1]
            enabled = item.enabled if isinstance(item, LoraEntry) else item[0]
            if name.strip() in NONE_NAMES:
                kept.append(item)
                continue
            if not _found(self.snap, ModelKind.loras, name):
                missing.append(name)
            elif enabled and base is not None and (why := lora_fits(base, describe(self._lora(name)))):
                self.notes.append(f"{why}; left out")
            else:
                kept.append(item)
                continue
            self.dropped_loras.add(name)
        if missing:
            self.notes.append(f"{_plural(missing, 'LoRA', 'LoRAs')} not installed; left out")
        if self.dropped_loras:
            self.changes["loras"] = kept

    def base(self) -> ModelFile | None:
        """The checkpoint the fitted preset runs on, when it names one that is here."""
        name = self.changes.get("base_model_name", self.v.base_model_name)
        return self.snap.models[ModelKind.checkpoints].get((name or "").replace("\\", "/"))

    def _lora(self, name: str) -> ModelFile:
        return self.snap.models[ModelKind.loras][name.replace("\\", "/")]

    def styles(self) -> None:
        if self.v.style_selections is None:
            return
        kept: list[str] = []
        missing: list[str] = []
        changed = False
        for raw in self.v.style_selections:
            display = normalize_style_name(raw.strip())
            if display == PROMPT_EXPANSION:
                if not PROMPT_EXPANSION_AVAILABLE:
                    self.notes.append(f"style {PROMPT_EXPANSION} needs Fooocus's prompt-expansion model, which "
                                      "remgo does not run; left out")
                    changed = True
                    continue
                name = display
            elif display == RANDOM_STYLE:
                if not self.snap.styles:
                    self.notes.append(f"{RANDOM_STYLE}: no styles are installed; left out")
                    changed = True
                    continue
                name = display
            else:
                style = self.snap.style(raw)
                if style is None:
                    missing.append(raw)
                    continue
                name = style.name
            changed = changed or name != raw  # a raw file name (sai-anime) becomes the name shown
            kept.append(name)
        if missing:
            self.notes.append(f"{_plural(missing, 'style', 'styles')} not installed; left out ({IMPORT_HINT})")
        if changed or missing:
            self.changes["style_selections"] = kept

    def fitted_raw(self) -> dict[str, Any]:
        """The file's keys with the changes, in the form each key has there (Fooocus's rows for LoRAs)."""
        raw = copy.deepcopy(self.preset.raw)
        for key, value in raw.items():
            field = FOOOCUS_KEYS.get(key, key)
            if field not in self.changes:
                continue
            if field == "loras" and key == "default_loras" and isinstance(value, list):
                raw[key] = [self._empty_slot(row) if isinstance(row, list) and len(row) in (2, 3)
                            and row[-2] in self.dropped_loras else row for row in value]
            else:
                raw[key] = msgspec.to_builtins(self.changes[field])
        return raw

    @staticmethod
    def _empty_slot(row: list) -> list:
        """Fooocus's empty LoRA slot, in the row's own shape."""
        return [True, NONE, 1.0] if len(row) == 3 else [NONE, 1.0]


def fit_preset(preset: Preset, snap: CatalogSnapshot, describe: Callable[[ModelFile], ModelFile]) -> Preset:
    """The preset with what this install lacks replaced or left out, each change in `adjustments`.
    `describe` reads a model's header (architecture, prompt width), for matching LoRAs to the checkpoint."""
    fitter = _Fitter(preset, snap)
    fitter.base_model()
    fitter.optional_model("refiner_model_name", ModelKind.checkpoints, "refiner", NONE, "no refiner is used")
    fitter.optional_model("vae_name", ModelKind.vae, "VAE", MODEL_VAE, "the checkpoint's own VAE is used")
    fitter.loras(describe)
    fitter.styles()
    if not fitter.changes:
        return preset
    values = msgspec.structs.replace(preset.values, **fitter.changes)
    return msgspec.structs.replace(preset, values=values, adjustments=fitter.notes, fitted_raw=fitter.fitted_raw())
