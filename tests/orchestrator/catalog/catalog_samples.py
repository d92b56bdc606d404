"""Tiny fake model trees and catalog folders for catalog and normalization tests.

The catalog only lists and hashes files, so a model is a few bytes with a `.safetensors` name.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from orchestrator.catalog import Catalog
from orchestrator.catalog.styles import IMPORTED_FOLDER

REPO_CATALOG = Path(__file__).resolve().parents[3] / "catalog"

# kind folder → file names; enough for every golden case.
STANDARD_MODELS: dict[str, list[str]] = {
    "checkpoints": [
        "juggernautXL_v8Rundiffusion.safetensors",
        "realisticStockPhoto_v20.safetensors",
        "sdxl/animaPencilXL_v500.safetensors",
    ],
    "loras": [
        "sd_xl_offset_example-lora_1.0.safetensors",
        "sdxl_lcm_lora.safetensors",
        "sdxl_lightning_4step_lora.safetensors",
        "sdxl_hyper_sd_4step_lora.safetensors",
        "detail/add-detail-xl.safetensors",
        "film_grain_xl.safetensors",
    ],
    "vae": ["sdxl_vae.safetensors"],
    "embeddings": ["unaestheticXL.safetensors"],
}


def write_models(root: Path, models: dict[str, list[str]]) -> Path:
    """Fake model files under `root/<kind folder>/`; each file's bytes name it, so hashes are stable."""
    for folder, names in models.items():
        for name in names:
            path = root / folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(f"fake weights: {folder}/{name}".encode())
    return root


# A Fooocus user's styles, as the standard catalog has them imported: Fooocus's file names and style names
# (raw ones in the SAI file, as Fooocus writes them), each worded like remgo's own counterpart: never
# Fooocus's text, which the project does not carry. Built-in name → name in the stand-in file.
FOOOCUS_STAND_INS: dict[str, dict[str, str]] = {
    "sdxl_styles_fooocus.json": {"Fooocus Enhance": "Remgo Enhance", "Fooocus Sharp": "Remgo Sharp",
                                 "Fooocus Negative": "Remgo Negative", "Fooocus Photograph": "Remgo Photograph",
                                 "Fooocus Cinematic": "Remgo Cinematic"},
    "sdxl_styles_sai.json": {"sai-anime": "Remgo Anime", "sai-3d-model": "Remgo 3D Model"},
}


def write_fooocus_styles(folder: Path) -> Path:
    """FOOOCUS_STAND_INS as Fooocus-format files in `folder` (an install's sdxl_styles, or styles/fooocus)."""
    shipped = {s["name"]: s for s in json.loads((REPO_CATALOG / "styles" / "remgo_styles.json").read_text())}
    folder.mkdir(parents=True, exist_ok=True)
    for file, names in FOOOCUS_STAND_INS.items():
        entries = [{**shipped[ours], "name": theirs} for theirs, ours in names.items()]
        (folder / file).write_text(json.dumps(entries, indent=4), encoding="utf-8")
    return folder


def catalog_dir(tmp: Path, *, shipped: bool = True, models: dict[str, list[str]] | None = None,
                fooocus_styles: bool = True) -> Path:
    """A catalog folder: the repo's shipped styles/presets/wildcards (copied), fake models, and (unless
    `fooocus_styles` is false) the stand-ins of Fooocus's styles where `remgo styles import` puts them."""
    root = tmp / "catalog"
    root.mkdir(parents=True, exist_ok=True)
    for sub in ("styles", "presets", "wildcards"):
        if shipped:
            shutil.copytree(REPO_CATALOG / sub, root / sub, dirs_exist_ok=True)
        else:
            (root / sub).mkdir(exist_ok=True)
    if fooocus_styles:
        write_fooocus_styles(root / "styles" / IMPORTED_FOLDER)
    write_models(root / "models", STANDARD_MODELS if models is None else models)
    return root


def standard_catalog(tmp: Path, **kwargs) -> Catalog:
    return Catalog(catalog_dir(tmp, **kwargs))


def safetensors_with(path: Path, shapes: dict[str, tuple[int, ...]]) -> Path:
    """A valid .safetensors file holding zero-filled float16 tensors of these shapes (keep them small:
    only the names and the dimensions the catalog reads matter)."""
    import math
    import struct

    header, offset = {}, 0
    for name, shape in shapes.items():
        size = 2 * math.prod(shape)
        header[name] = {"dtype": "F16", "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0" * offset)
    return path


# Just the tensors that tell an architecture and its prompt width apart (real widths, tiny other dims).
UNET_IN = "model.diffusion_model.input_blocks.0.0.weight"
SD15_SHAPES = {UNET_IN: (1, 4, 1, 1),
               "cond_stage_model.transformer.text_model.embeddings.position_embedding.weight": (1, 768),
               "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": (1, 768)}
SDXL_SHAPES = {UNET_IN: (1, 4, 1, 1), "model.diffusion_model.label_emb.0.0.weight": (1, 2816),
               "conditioner.embedders.0.transformer.text_model.embeddings.position_embedding.weight": (1, 768),
               "conditioner.embedders.1.model.positional_embedding": (1, 1280),
               "model.diffusion_model.input_blocks.4.1.transformer_blocks.0.attn2.to_k.weight": (1, 2048)}
# The SDXL refiner (Stability's sd_xl_refiner): OpenCLIP bigG alone at conditioner.embedders.0.model,
# ADM input 2560, context 1280.
REFINER_SHAPES = {UNET_IN: (384, 4, 3, 3), "model.diffusion_model.label_emb.0.0.weight": (1536, 2560),
                  "conditioner.embedders.0.model.positional_embedding": (77, 1280),
                  "conditioner.embedders.0.model.text_projection": (1280, 1280),
                  "model.diffusion_model.input_blocks.4.1.transformer_blocks.0.attn2.to_k.weight": (768, 1280)}
SDXL_LORA_SHAPES = {"lora_unet_input_blocks_4_1_transformer_blocks_0_attn2_to_k.lora_down.weight": (4, 2048)}
SD15_LORA_SHAPES = {"lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k.lora_down.weight": (4, 768)}
