"""What a model file is, read from its header alone: a checkpoint's architecture, the prompt width a
checkpoint or LoRA works with (so whether a LoRA fits a checkpoint: `lora_fits`). A header is a few
hundred KB at the start of the file: cheap next to the gigabytes behind it, and read once per (path,
size, mtime).

Checkpoints are described during the scan (the catalog lists their architecture); LoRAs when a job first
names one (a library can hold thousands). A file that cannot be classified stays listed as "unknown"
with the reason: the worker is the authority on what it loads, and it fails such a job naming the file.
"""

from __future__ import annotations

import json
import os
import threading

import msgspec

from contract.checkpoint import (
    ArchitectureError,
    CheckpointHeader,
    HeaderError,
    context_width,
    detect,
    folder_architecture,
    header_length,
    is_inpainting,
    parse_header,
)
from orchestrator.catalog.models import ModelFile, ModelKind

UNKNOWN = "unknown"
_WIDTH_NAMES = {2048: "SDXL", 768: "SD 1.5", 1024: "SD 2.x"}
INPAINTING_NOTE = ("an inpainting checkpoint: its UNet also reads the mask and the masked image (9 input "
                   "channels); it inpaints with that UNet, without Fooocus's inpaint engine")
_ARCH_NAMES = {"sdxl": "SDXL", "sd15": "SD 1.5", "sdxl_refiner": "the SDXL refiner"}


class _Facts(msgspec.Struct, frozen=True):
    architecture: str | None
    width: int | None
    note: str | None
    inpainting: bool = False


def _read_header(path: str) -> CheckpointHeader:
    """A safetensors header (shapes, metadata); HeaderError also when the file is shorter than it lists."""
    with open(path, "rb") as fh:
        length = header_length(fh.read(8))
        header = parse_header(fh.read(length), length)
        problem = header.truncation(os.fstat(fh.fileno()).st_size)
    if problem:
        raise HeaderError(problem)
    return header


def _checkpoint_file(path: str) -> _Facts:
    try:
        header = _read_header(path)
    except (OSError, HeaderError) as exc:
        return _Facts(UNKNOWN, None, str(getattr(exc, "strerror", None) or exc))
    width = context_width(header.shapes)
    try:
        arch = detect(header.shapes, header.metadata).value
    except ArchitectureError as exc:
        return _Facts(UNKNOWN, width, str(exc))
    inpainting = is_inpainting(header.shapes)
    return _Facts(arch, width, INPAINTING_NOTE if inpainting else None, inpainting)


def _checkpoint_folder(path: str) -> _Facts:
    try:
        with open(os.path.join(path, "model_index.json"), encoding="utf-8") as fh:
            index = json.load(fh)
        with open(os.path.join(path, "unet", "config.json"), encoding="utf-8") as fh:
            width = json.load(fh).get("cross_attention_dim")
        arch = folder_architecture(index)
    except (OSError, ValueError, AttributeError) as exc:
        return _Facts(UNKNOWN, None, f"pipeline configuration unreadable: {exc}")
    width = width if isinstance(width, int) else None
    if arch is None:
        why = f"pipeline {index.get('_class_name')!r} is not SDXL, the SDXL refiner or SD 1.5"
        return _Facts(UNKNOWN, width, why)
    return _Facts(arch, width, None)


def _lora_file(path: str) -> _Facts:
    try:
        return _Facts(None, context_width(_read_header(path).shapes), None)
    except (OSError, HeaderError) as exc:
        return _Facts(None, None, str(getattr(exc, "strerror", None) or exc))


class ModelInfo:
    """Header facts per file, cached by (path, size, mtime); thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._facts: dict[tuple[str, int, int], _Facts] = {}

    def _facts_of(self, model: ModelFile) -> _Facts | None:
        key = (model.path, model.size, model.mtime_ns)
        with self._lock:
            hit = self._facts.get(key)
        if hit is not None:
            return hit
        if model.kind is ModelKind.checkpoints:
            if model.format == "safetensors":
                facts = _checkpoint_file(model.path)
            elif model.format == "diffusers":
                facts = _checkpoint_folder(model.path)
            else:
                facts = _Facts(UNKNOWN, None, "pickle files are not inspected before loading")
        elif model.kind is ModelKind.loras and model.format == "safetensors":
            facts = _lora_file(model.path)
        else:
            return None
        with self._lock:
            self._facts[key] = facts
        return facts

    def described(self, model: ModelFile) -> ModelFile:
        """The model with what its header says filled in."""
        facts = self._facts_of(model)
        if facts is None:
            return model
        return msgspec.structs.replace(model, architecture=facts.architecture, context_width=facts.width,
                                       note=facts.note, inpainting=facts.inpainting)


def refines_only(model: ModelFile) -> bool:
    """The SDXL refiner architecture (no CLIP-L encoder, aesthetic-score conditioning) only finishes an SDXL
    base's image: it is never a base model."""
    return model.architecture == "sdxl_refiner"


def _family(width: int, architecture: str | None = None) -> str:
    name = _ARCH_NAMES.get(architecture or "") or _WIDTH_NAMES.get(width)
    return f"{name} ({width}-wide prompt features)" if name else f"a model with {width}-wide prompt features"


def lora_fits(base: ModelFile, lora: ModelFile) -> str | None:
    """Why a LoRA cannot go on this base, or None (also when either width is unknown)."""
    if base.context_width is None or lora.context_width is None or base.context_width == lora.context_width:
        return None
    return (f"LoRA {lora.name} is made for {_family(lora.context_width)}; checkpoint {base.name} "
            f"is {_family(base.context_width, base.architecture)}")
