"""Where each request value comes from: the request, else the preset, else the built-in default.

A bad value the client sent is a NormalizeError naming the field. The presets come fitted to this install
(catalog/preset_fit.py: a checkpoint, LoRA or style that is not here was replaced or left out at the scan);
a job that names a preset other than the default one carries those changes in its warnings, the default
preset's are said once at start. A value of another origin that cannot apply (a sampler the kernel does not
run) falls back and the job's warnings say so. Model, style and sampler names are checked here.
"""

from __future__ import annotations

import random
from typing import Any

import msgspec

from contract.request import GenerateRequest, LoraEntry
from contract.task import MAX_SEED
from orchestrator.catalog import Catalog, CatalogError, ModelFile, ModelKind, Preset, Style
from orchestrator.catalog.preset_fit import IMPORT_HINT, NONE_NAMES
from orchestrator.catalog.styles import (
    ORIGIN_FOOOCUS,
    PROMPT_EXPANSION,
    RANDOM_STYLE,
    SPECIAL_STYLES,
    normalize_style_name,
)
from orchestrator.catalog.tables import BUILTIN, SDXL_SIZES, aspect_value, parse_size, size_problem
from orchestrator.common.field_error import close_matches
from orchestrator.normalize.architecture import base_fits, lora_fits
from orchestrator.normalize.errors import NormalizeError
from orchestrator.normalize.kernel_names import not_offered


class Sources:
    """The request's values, then the chosen preset's, then the default preset's, then built-in ones.

    A preset leaves out what it does not change, as in Fooocus, where a preset overlays the defaults.
    `asked` is the request with every field so filled, built once; `origin[field]` says where each came
    from ("request", "preset '<name>'" or "built-in default"), which decides whether a value that cannot
    apply is the client's error or a warning.
    """

    def __init__(self, request: GenerateRequest, catalog: Catalog, default_preset: str, warnings: list[str]):
        self.req = request
        self.catalog = catalog
        self.snap = catalog.snapshot()
        self.warnings = warnings
        self.preset = self._preset(default_preset)
        base = self.snap.presets.get(default_preset)
        self.layers = [p for p in (self.preset, base) if p is not None]
        if base is not None and base is self.preset:
            self.layers = [base]
        self.origin: dict[str, str] = {}
        filled = {}
        for field in GenerateRequest.__struct_fields__:
            filled[field], self.origin[field] = self._source(field)
        self.asked: GenerateRequest = msgspec.structs.replace(request, **filled)

    def warn(self, text: str) -> None:
        if text not in self.warnings:
            self.warnings.append(text)

    def _preset(self, default_preset: str) -> Preset | None:
        name = self.req.preset
        if name is not None:
            try:
                chosen = self.catalog.preset(name)
            except CatalogError as exc:
                raise NormalizeError("preset", exc.message, exc.suggestions) from None
            if chosen.name != default_preset:  # chosen for this job: what it lacks here is news
                for note in chosen.adjustments:
                    self.warn(f"preset {chosen.name!r}: {note}")
            return chosen
        preset = self.snap.presets.get(default_preset)
        if preset is None:
            self.warn(f"default preset {default_preset!r} not found; built-in defaults used")
        return preset

    def preset_value(self, field: str) -> tuple[Any, Preset | None]:
        """The first preset layer that sets `field` (an empty prompt counts as not set)."""
        for preset in self.layers:
            value = getattr(preset.values, field)
            if value is not None and not (field == "prompt" and value == ""):
                return value, preset
        return None, None

    def _source(self, field: str) -> tuple[Any, str]:
        """(value, origin) of one field."""
        value = getattr(self.req, field)
        if value is not None and not (field == "prompt" and value == ""):
            return value, "request"
        value, preset = self.preset_value(field)
        if preset is not None:
            return value, f"preset {preset.name!r}"
        return getattr(BUILTIN, field, "" if field == "prompt" else None), "built-in default"

    def overridden(self, fields: list[str]) -> list[str]:
        """The fields the client set to something other than what applies without it (preset, default)."""
        out = []
        for field in fields:
            asked = getattr(self.req, field)
            fallback, preset = self.preset_value(field)
            if preset is None:
                fallback = getattr(BUILTIN, field, None)
            if asked is not None and asked != fallback:
                out.append(field)
        return out

    def fail(self, origin: str, field: str, message: str, suggestions: list[str] = (), then: str = "") -> None:
        """A client's value → NormalizeError; a preset's or default's → a warning (and `then` happens)."""
        if origin == "request":
            raise NormalizeError(field, message, suggestions)
        self.warn(f"{origin}: {field}: {message}" + (f"; {then}" if then else ""))

    # ----- models ---------------------------------------------------------------------------------

    def base_model(self) -> ModelFile:
        name, origin = self.asked.base_model_name, self.origin["base_model_name"]
        checkpoints = self.snap.models[ModelKind.checkpoints]
        problem = None  # why the named checkpoint cannot be the base, when it is listed
        if name is not None:
            try:
                found = self.snap.model(ModelKind.checkpoints, name, "base_model_name")
            except CatalogError as exc:
                if origin == "request":
                    raise NormalizeError("base_model_name", exc.message, exc.suggestions) from None
            else:
                problem = base_fits(found)
                if problem is None:
                    return found
                if origin == "request":
                    raise NormalizeError("base_model_name", problem)
        where = ", ".join(self.snap.folders[ModelKind.checkpoints]) or "catalog/models/checkpoints"
        if not checkpoints:
            raise NormalizeError("base_model_name", f"no checkpoint found; add a .safetensors checkpoint to {where}")
        first = next((m for m in checkpoints.values() if base_fits(m) is None), None)
        if first is None:
            raise NormalizeError("base_model_name", "only SDXL refiner-architecture checkpoints found; add an "
                                 f"SDXL or SD 1.5 checkpoint to {where}")
        if problem is not None:
            self.warn(f"{origin}: base_model_name: {problem}; using {first.name!r}, the first checkpoint found")
        else:
            self.warn(f"checkpoint {name!r} not found; using {first.name!r}, the first checkpoint found"
                      if name is not None else f"no default checkpoint set; using {first.name!r}")
        return first

    def optional_model(self, field: str, kind: ModelKind) -> ModelFile | None:
        name, origin = getattr(self.asked, field), self.origin[field]
        if name is None or name.strip() in NONE_NAMES:
            return None
        try:
            return self.snap.model(kind, name, field)
        except CatalogError as exc:
            self.fail(origin, field, exc.message, exc.suggestions, then="none used")
            return None

    def loras(self, base: ModelFile) -> list[tuple[ModelFile, float]]:
        items, origin = self.asked.loras, self.origin["loras"]
        out = []
        for i, item in enumerate(items or []):
            if isinstance(item, LoraEntry):
                enabled, name, weight, path = item.enabled, item.name, item.weight, f"loras[{i}].name"
            else:
                (enabled, name, weight), path = item, f"loras[{i}][1]"
            if not enabled or name.strip() in NONE_NAMES:
                continue
            try:
                lora = self.catalog.described(self.snap.model(ModelKind.loras, name, path))
            except CatalogError as exc:
                self.fail(origin, path, exc.message, exc.suggestions, then="skipped")
                continue
            if why := lora_fits(base, lora):
                self.fail(origin, path, why, then="skipped")
                continue
            out.append((lora, float(weight)))
        return out

    def inline_loras(self, tags: list[tuple[str, float]], loras: list[tuple[ModelFile, float]],
                     base: ModelFile) -> None:
        for tag, weight in tags:
            text = f"<lora:{tag}:{weight:g}>"
            found = self.snap.lora_for_tag(tag)
            if found is None:
                known = list(self.snap.models[ModelKind.loras])
                raise NormalizeError("prompt", f"{text} names no LoRA on disk", close_matches(tag, known))
            if not -2.0 <= weight <= 2.0:
                raise NormalizeError("prompt", f"{text}: a LoRA weight must be within -2…2")
            found = self.catalog.described(found)
            if why := lora_fits(base, found):
                raise NormalizeError("prompt", f"{text}: {why}")
            if any(m.name == found.name for m, _ in loras):
                self.warn(f"{text} ignored: {found.name} is already in loras")
                continue
            loras.append((found, weight))

    # ----- names the kernel runs ------------------------------------------------------------------

    def kernel_choice(self, field: str, offered: list[str], label: str) -> str:
        name, origin = getattr(self.asked, field), self.origin[field]
        if name in offered:
            return name
        if not offered:
            raise NormalizeError(field, f"the kernel reports no {label}s")
        fallback = BUILTIN_NAME[field] if BUILTIN_NAME[field] in offered else offered[0]
        message, near = not_offered(field, label, name, offered)
        self.fail(origin, field, message, near, then=f"{fallback} used")
        return fallback

    # ----- styles ---------------------------------------------------------------------------------

    def styles(self) -> tuple[list[Style | None], bool, list[str]]:
        """(styles with None for Random Style, prompt expansion asked, the names as settled)."""
        names, origin = self.asked.style_selections, self.origin["style_selections"]
        styles: list[Style | None] = []
        settled: list[str] = []
        expansion = False
        for i, raw in enumerate(names):
            display = normalize_style_name(raw.strip())
            if display == PROMPT_EXPANSION:
                expansion = True
                settled.append(PROMPT_EXPANSION)
                continue
            if display == RANDOM_STYLE:
                styles.append(None)
                settled.append(RANDOM_STYLE)
                continue
            style = self.snap.style(raw)
            if style is None:
                suggestions = close_matches(raw, [*SPECIAL_STYLES, *self.snap.style_names])
                message = f"no style named {raw!r}"
                if not any(s.origin == ORIGIN_FOOOCUS for s in self.snap.styles.values()):
                    message += f" (none of Fooocus's styles is installed here; {IMPORT_HINT})"
                self.fail(origin, f"style_selections[{i}]", message, suggestions, then="skipped")
                continue
            styles.append(style)
            settled.append(style.name)
        return styles, expansion, settled

    # ----- sizes, seeds ---------------------------------------------------------------------------

    def size(self) -> tuple[int, int, str]:
        text, origin = self.asked.aspect_ratios_selection, self.origin["aspect_ratios_selection"]
        size = parse_size(text)
        problem = "not a size like 1152*896" if size is None else size_problem(*size)
        if problem:
            known = [aspect_value(w, h) for w, h in SDXL_SIZES]
            self.fail(origin, "aspect_ratios_selection", f"{text!r}: {problem}", close_matches(text, known),
                      then=f"{BUILTIN.aspect_ratios_selection} used")
            size = parse_size(BUILTIN.aspect_ratios_selection)
        width, height = size
        for field in ("overwrite_width", "overwrite_height"):
            value, origin = getattr(self.asked, field), self.origin[field]
            if value is None or value <= 0:
                continue  # Fooocus's -1 (and 0): not overwritten
            w, h = (value, height) if field == "overwrite_width" else (width, value)
            problem = size_problem(w, h)
            if problem:
                self.fail(origin, field, problem, then="not applied")
            else:
                width, height = w, h
        return width, height, aspect_value(*size)

    def seed(self, rng: random.Random) -> int:
        given, chosen_random = self.req.image_seed, self.req.seed_random
        if chosen_random is True:
            if given is not None and given >= 0:
                self.warn("image_seed ignored: seed_random is true")
            return rng.randint(0, MAX_SEED)
        if given is not None and given >= 0:
            return given
        if given == -1 or chosen_random is None:
            return rng.randint(0, MAX_SEED)
        raise NormalizeError("image_seed", "seed_random is false, so an image_seed (0 … 2^63-1) is needed")


BUILTIN_NAME = {"sampler_name": BUILTIN.sampler_name, "scheduler_name": BUILTIN.scheduler_name}

