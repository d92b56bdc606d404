"""CatalogSnapshot: what one scan found (models, refusals, folders, styles, presets, wildcards), read-only."""

from __future__ import annotations

from pathlib import Path

from orchestrator.catalog.errors import CatalogError
from orchestrator.catalog.models import ModelFile, ModelKind, Refusal, name_problem
from orchestrator.catalog.presets import Preset
from orchestrator.catalog.styles import Style, normalize_style_name
from orchestrator.common.field_error import close_matches

KIND_LABELS = {
    ModelKind.checkpoints: "checkpoint",
    ModelKind.loras: "LoRA",
    ModelKind.vae: "VAE",
    ModelKind.embeddings: "embedding",
    ModelKind.upscale: "upscale model",
    ModelKind.controlnet: "ControlNet model",
    ModelKind.inpaint: "inpaint model",
    ModelKind.ipadapter: "IP-Adapter",
    ModelKind.clip_vision: "CLIP-vision model",
}


class CatalogSnapshot:
    """One scan's results. Read-only once the catalog publishes it."""

    def __init__(self, *, models: dict[ModelKind, dict[str, ModelFile]], refused: list[Refusal],
                 folders: dict[ModelKind, list[str]], styles: dict[str, Style], presets: dict[str, Preset],
                 wildcards: dict[str, list[str]], problems: list[str]) -> None:
        self.models = models
        self.refused = refused
        self.folders = folders
        self.styles = styles
        self.style_names = list(styles)
        self.presets = presets
        self.wildcards = wildcards
        self.problems = problems
        self._stems: dict[str, ModelFile] = {}
        for lora in models[ModelKind.loras].values():
            self._stems.setdefault(Path(lora.name).stem, lora)

    def model(self, kind: ModelKind, name: str, field: str) -> ModelFile:
        """The model of that kind and name; CatalogError naming `field` with close names otherwise."""
        wanted = name.replace("\\", "/")  # names written on Windows
        problem = name_problem(wanted)
        if problem:
            raise CatalogError(field, f"{name!r} refused: {problem}")
        found = self.models[kind].get(wanted)
        if found is not None:
            return found
        label = KIND_LABELS[kind]
        for r in self.refused:
            if r.kind is kind and r.name == wanted:
                raise CatalogError(field, f"{label} {name!r} is refused: {r.reason}")
        where = ", ".join(self.folders[kind]) or f"a {kind.value} folder"
        raise CatalogError(field, f"no {label} named {name!r}; add it to {where}",
                           close_matches(wanted, self.models[kind]))

    def lora_for_tag(self, tag: str) -> ModelFile | None:
        """An inline `<lora:tag:w>`: the exact name, the name plus `.safetensors`, or a file stem."""
        loras = self.models[ModelKind.loras]
        tag = tag.strip().replace("\\", "/")
        return loras.get(tag) or loras.get(tag + ".safetensors") or self._stems.get(tag)

    def style(self, name: str) -> Style | None:
        """By display name, or by a raw file name (`sai-anime`) normalized the way Fooocus does."""
        return self.styles.get(name) or self.styles.get(normalize_style_name(name.strip()))
