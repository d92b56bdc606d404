"""The files each image-prompt type needs, found in the catalog by Fooocus's names, and its default stop/weight.

Fooocus 2.5 (modules/config.py) keeps the control models, the IP-Adapters and its negative image embedding
in models/controlnet and the CLIP-vision encoder in models/clip_vision; remgo's kinds read those folders and
ComfyUI's (models/ipadapter, models/clip_vision) and A1111's (models/ControlNet). A file is found by its base
name in any sub-folder of its kind; an IP-Adapter published as `.safetensors` counts as its `.bin`.
"""

from __future__ import annotations

import os

import msgspec

from contract.image_prompt import ImagePromptType
from orchestrator.catalog.models import ModelFile, ModelKind
from orchestrator.catalog.snapshot import CatalogSnapshot

# Fooocus's modules/flags.py default_parameters: (stop, weight) per type.
DEFAULT_STOP_WEIGHT: dict[ImagePromptType, tuple[float, float]] = {
    ImagePromptType.image_prompt: (0.5, 0.6),
    ImagePromptType.face_swap: (0.9, 0.75),
    ImagePromptType.pyra_canny: (0.5, 1.0),
    ImagePromptType.cpds: (0.5, 1.0),
}

CLIP_VISION = "clip_vision_vit_h.safetensors"
IP_NEGATIVE = "fooocus_ip_negative.safetensors"
MODEL_FILES: dict[ImagePromptType, tuple[ModelKind, str]] = {
    ImagePromptType.image_prompt: (ModelKind.ipadapter, "ip-adapter-plus_sdxl_vit-h.bin"),
    ImagePromptType.face_swap: (ModelKind.ipadapter, "ip-adapter-plus-face_sdxl_vit-h.bin"),
    ImagePromptType.pyra_canny: (ModelKind.controlnet, "control-lora-canny-rank128.safetensors"),
    ImagePromptType.cpds: (ModelKind.controlnet, "fooocus_xl_cpds_128.safetensors"),
}
DOWNLOAD_FROM = "huggingface.co/lllyasviel/misc"  # where Fooocus itself fetches every one of them
# Where each kind's files go, in words, when the install has no such folder yet.
FOLDER_HINTS = {
    ModelKind.controlnet: "models/controlnet",
    ModelKind.ipadapter: "models/controlnet (Fooocus) or models/ipadapter (ComfyUI)",
    ModelKind.clip_vision: "models/clip_vision",
}


class MissingFile(msgspec.Struct, frozen=True, kw_only=True):
    file: str
    kind: ModelKind
    folders: list[str]  # where the catalog looks for it (empty: no such folder yet)

    def hint(self) -> str:
        where = ", ".join(self.folders) or FOLDER_HINTS[self.kind]
        return f"{self.file} is not installed: add it to {where} (Fooocus's file, from {DOWNLOAD_FROM})"


class PromptModels(msgspec.Struct, frozen=True, kw_only=True):
    """The files one type uses; `missing` lists the required ones not found (then the type cannot run)."""

    model: ModelFile | None
    image_encoder: ModelFile | None = None
    ip_negative: ModelFile | None = None  # optional: used when installed
    missing: list[MissingFile] = []


def find_file(snapshot: CatalogSnapshot, kind: ModelKind, file: str) -> ModelFile | None:
    """The model of that kind whose base name is `file` (or, for a `.bin`, the same stem as `.safetensors`);
    the shallowest, then the first by name, when several sub-folders hold one."""
    stem, suffix = os.path.splitext(file)
    wanted = {file.casefold()}
    if suffix == ".bin":
        wanted.add(f"{stem}.safetensors".casefold())
    found = [m for m in snapshot.models[kind].values() if os.path.basename(m.name).casefold() in wanted]
    found.sort(key=lambda m: (m.name.count("/"), not m.name.endswith(".safetensors"), m.name.casefold()))
    return found[0] if found else None


def prompt_models(snapshot: CatalogSnapshot, prompt_type: ImagePromptType) -> PromptModels:
    kind, file = MODEL_FILES[prompt_type]
    needed = [(kind, file)]
    if kind is ModelKind.ipadapter:
        needed.append((ModelKind.clip_vision, CLIP_VISION))
    found = [find_file(snapshot, k, f) for k, f in needed]
    missing = [MissingFile(file=f, kind=k, folders=list(snapshot.folders[k]))
               for (k, f), m in zip(needed, found, strict=True) if m is None]
    negative = find_file(snapshot, ModelKind.ipadapter, IP_NEGATIVE) if kind is ModelKind.ipadapter else None
    return PromptModels(model=found[0], image_encoder=found[1] if len(found) > 1 else None, ip_negative=negative,
                        missing=missing)


def kernel_name(prompt_type: ImagePromptType) -> str:
    """The name a worker's Health.image_inputs gives a type it runs."""
    return f"prompt.{prompt_type.value}"


def image_prompt_types(snapshot: CatalogSnapshot, runs) -> list[dict]:
    """GET /v1/catalog's `image_prompt_types`: per type its defaults, files, and whether it can run now.
    `runs(name)`: whether the workers' kernel runs that image input."""
    out = []
    for prompt_type, (stop, weight) in DEFAULT_STOP_WEIGHT.items():
        models = prompt_models(snapshot, prompt_type)
        kernel = runs(kernel_name(prompt_type))
        files = {part: m.name for part in ("model", "image_encoder", "ip_negative")
                 if (m := getattr(models, part)) is not None}
        row = {"type": prompt_type.value, "default_stop": stop, "default_weight": weight,
               "available": kernel and not models.missing, "kernel_runs": kernel, "files": files,
               "missing": [{"file": m.file, "kind": m.kind.value, "folders": m.folders, "hint": m.hint()}
                           for m in models.missing]}
        if models.model is not None and MODEL_FILES[prompt_type][0] is ModelKind.ipadapter and models.ip_negative is None:
            row["note"] = (f"{IP_NEGATIVE} is not installed: the image prompt runs without Fooocus's negative "
                           "image embedding")
        out.append(row)
    return out
