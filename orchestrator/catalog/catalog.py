"""The Catalog: what is on disk (models, styles, presets, wildcards) and what the kernel runs.

A scan builds an immutable snapshot; `rescan()` swaps in a new one, so a request reads one consistent
view and never triggers a scan itself.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Iterable
from pathlib import Path

import msgspec

from contract.request import MetadataScheme
from contract.task import OutputFormat, RefinerSwapMethod, Sampler, Scheduler
from orchestrator.catalog import tables
from orchestrator.catalog.errors import CatalogError
from orchestrator.common.field_error import close_matches
from orchestrator.common.foreground import Foreground
from orchestrator.catalog.hashes import INLINE_HASH_BYTES, BackgroundHasher, HashCache
from orchestrator.catalog.image_prompt_models import image_prompt_types
from orchestrator.catalog.model_info import ModelInfo
from orchestrator.catalog.models import ModelFile, ModelKind, Refusal, name_problem, scan
from orchestrator.catalog.preset_fit import fit_preset
from orchestrator.catalog.snapshot import CatalogSnapshot
from orchestrator.catalog.presets import Preset, load_presets
from orchestrator.catalog.styles import (
    PROMPT_EXPANSION,
    PROMPT_EXPANSION_AVAILABLE,
    RANDOM_STYLE,
    Style,
    fooocus_styles_folder,
    load_styles,
    normalize_style_name,
)
from orchestrator.catalog.wildcards import load_wildcards

class Catalog:
    """Model hashes are computed in the background after each scan (files under `inline_hash_bytes` during
    the scan itself), giving way to the requests `foreground` counts; `close()` stops that, as dropping the
    catalog does."""

    def __init__(self, catalog_dir: Path, model_roots: Iterable[Path] = (), *,
                 allow_unsafe_pickles: bool = False, inline_hash_bytes: int = INLINE_HASH_BYTES,
                 foreground: Foreground | None = None) -> None:
        self.catalog_dir = Path(catalog_dir)
        self.model_roots = [self.catalog_dir / "models", *(Path(r) for r in model_roots)]
        self.allow_unsafe_pickles = allow_unsafe_pickles
        self._info = ModelInfo()
        self._hashes = HashCache.shared(self.catalog_dir / "models" / ".hash_cache.json")
        self._hasher = BackgroundHasher(self._hashes, inline_below=inline_hash_bytes, foreground=foreground)
        weakref.finalize(self, self._hasher.close)  # a one-off catalog (a start-up check) stops hashing too
        self._samplers = [s.value for s in Sampler]
        self._schedulers = [s.value for s in Scheduler]
        self._image_inputs: frozenset[str] | None = None
        self._rescan_lock = threading.Lock()
        self._snapshot: CatalogSnapshot
        self.rescan()

    # ----- scanning -------------------------------------------------------------------------------

    def fooocus_style_folders(self) -> list[Path]:
        """The `sdxl_styles` folders of the model roots that are Fooocus installs, read in place."""
        found = (fooocus_styles_folder(root) for root in self.model_roots[1:])
        return list(dict.fromkeys(f for f in found if f is not None))

    def rescan(self) -> None:
        """Models, styles, presets and wildcards, read again from disk; presets fitted to what was found."""
        with self._rescan_lock:
            result = scan(self.model_roots, allow_unsafe_pickles=self.allow_unsafe_pickles)
            checkpoints = result.files[ModelKind.checkpoints]
            for name, model in checkpoints.items():
                checkpoints[name] = self._info.described(model)
            styles, style_problems = load_styles(self.catalog_dir / "styles", self.fooocus_style_folders())
            presets, preset_problems = load_presets(self.catalog_dir / "presets")
            wildcards, wildcard_problems = load_wildcards(self.catalog_dir / "wildcards")
            snapshot = CatalogSnapshot(
                models=result.files, refused=result.refused, folders=result.folders, styles=styles,
                presets=presets, wildcards=wildcards,
                problems=result.problems + style_problems + preset_problems + wildcard_problems)
            snapshot.presets = {name: fit_preset(p, snapshot, self._info.described) for name, p in presets.items()}
            self._snapshot = snapshot
            # Checkpoints first, then LoRAs (the hashes metadata shows), then the other kinds.
            self._hasher.submit(m for kind in ModelKind for m in self._snapshot.models[kind].values())

    def snapshot(self) -> CatalogSnapshot:
        return self._snapshot

    def worker_roots(self) -> list[str]:
        """The folders a worker must accept model paths under: the real path of every configured root and
        of every kind folder the last scan read (a kind folder may be a link to another disk). Every model
        the catalog lists has its path inside one of them."""
        found = [os.path.realpath(r) for r in self.model_roots if r.is_dir()]
        for folders in self._snapshot.folders.values():
            found += folders
        roots: list[str] = []
        for root in sorted(set(found), key=len):  # drop folders already inside a shorter root
            if not any(root == r or root.startswith(r.rstrip(os.sep) + os.sep) for r in roots):
                roots.append(root)
        return sorted(roots)

    def described(self, model: ModelFile) -> ModelFile:
        """A model with the facts its header gives (architecture, prompt width); reads the header once."""
        return self._info.described(model)

    # ----- what the kernel runs -------------------------------------------------------------------

    def set_kernel_capabilities(self, samplers: list[str], schedulers: list[str],
                                image_inputs: list[str] | None = None) -> None:
        """Offer exactly the samplers/schedulers a worker reports (an empty list means "not reported"), and
        the image inputs its kernel runs (None: not reported, as while a kernel loads)."""
        known_samplers = {s.value for s in Sampler}
        known_schedulers = {s.value for s in Scheduler}
        if samplers:
            self._samplers = [s for s in dict.fromkeys(samplers) if s in known_samplers]
        if schedulers:
            self._schedulers = [s for s in dict.fromkeys(schedulers) if s in known_schedulers]
        if image_inputs is not None:
            self._image_inputs = frozenset(image_inputs)

    def runs_image_input(self, name: str) -> bool:
        """Whether the workers' kernel runs this image input ("vary", "upscale.upscaler", "prompt.CPDS", …); True until a
        ready kernel has said (the worker refuses what it cannot run in any case)."""
        return self._image_inputs is None or name in self._image_inputs

    @property
    def samplers(self) -> list[str]:
        return list(self._samplers)

    @property
    def schedulers(self) -> list[str]:
        return list(self._schedulers)

    # ----- lookups --------------------------------------------------------------------------------

    def has_checkpoint(self) -> bool:
        return bool(self._snapshot.models[ModelKind.checkpoints])

    def model(self, kind: ModelKind, name: str, field: str = "name") -> ModelFile:
        return self._snapshot.model(kind, name, field)

    def preset(self, name: str, field: str = "preset") -> Preset:
        snap = self._snapshot
        if name in snap.presets:
            return snap.presets[name]
        raise CatalogError(field, f"no preset named {name!r}", close_matches(name, snap.presets))

    def known_hash(self, model: ModelFile) -> str | None:
        """10 hex digits of the file's sha256 if the background hasher has them; never reads the file."""
        return self._hashes.known(model.path, model.size, model.mtime_ns)

    def short_hash(self, model: ModelFile) -> str:
        """The same, computed now if not known yet (blocking: for tools and tests, never for a request)."""
        return self._hashes.short_hash(model.path, model.size, model.mtime_ns)

    def hashing_progress(self) -> dict:
        return self._hasher.progress()

    def wait_for_hashes(self, timeout: float | None = None) -> bool:
        """Block until the latest scan's files are hashed; False if `timeout` passed first."""
        return self._hasher.wait(timeout)

    def close(self) -> None:
        """Stop hashing (after the file being hashed); lookups keep working."""
        self._hasher.close()

    # ----- what GET /v1/catalog returns -----------------------------------------------------------

    def models_of(self, kind: ModelKind) -> list[dict]:
        return [m.public() for m in self._snapshot.models[kind].values()]

    def styles_list(self) -> list[dict]:
        specials = [
            {"name": PROMPT_EXPANSION, "prompt": "", "negative_prompt": "", "special": "prompt_expansion",
             "available": PROMPT_EXPANSION_AVAILABLE},
            {"name": RANDOM_STYLE, "prompt": "", "negative_prompt": "", "special": "random_style",
             "available": bool(self._snapshot.styles)},
        ]
        return specials + [{"name": s.name, "prompt": s.prompt, "negative_prompt": s.negative_prompt,
                            "source": s.source, "origin": s.origin} for s in self._snapshot.styles.values()]

    def presets_list(self) -> list[dict]:
        return [p.public() for p in self._snapshot.presets.values()]

    def fitting_report(self, default_preset: str) -> list[str]:
        """Lines for the start-up log: each change made to the default preset, then which others changed."""
        presets = self._snapshot.presets
        default = presets.get(default_preset)
        lines = [f"default preset {default_preset!r}: {note}" for note in (default.adjustments if default else [])]
        others = [name for name, p in presets.items() if p.adjustments and name != default_preset]
        if others:
            lines.append(f"presets {', '.join(others)} are fitted to this install too (GET /v1/presets/NAME "
                         "lists what changed)")
        return lines

    def summary(self) -> dict:
        snap = self._snapshot
        return {
            "models": {kind.value: self.models_of(kind) for kind in ModelKind},
            "folders": {kind.value: folders for kind, folders in snap.folders.items()},
            "refused": [{"kind": r.kind.value, "name": r.name, "reason": r.reason} for r in snap.refused],
            "styles": self.styles_list(),
            "presets": self.presets_list(),
            "wildcards": [{"name": n, "options": len(opts)} for n, opts in snap.wildcards.items()],
            "aspect_ratios": tables.aspect_ratios(),
            "performance": tables.performance_table(),
            "samplers": self.samplers,
            "schedulers": self.schedulers,
            "output_formats": [f.value for f in OutputFormat],
            "metadata_schemes": [m.value for m in MetadataScheme],
            "refiner_swap_methods": [m.value for m in RefinerSwapMethod],
            "image_prompt_types": image_prompt_types(snap, self.runs_image_input),
            "defaults": msgspec.to_builtins(tables.BUILTIN),
            "limits": tables.LIMITS,
            "problems": list(snap.problems),
            "hashing": self.hashing_progress(),
        }
