"""Tiny fake model trees and catalog folders for catalog and normalization tests.

The catalog only lists and hashes files, so a model is a few bytes with a `.safetensors` name.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from orchestrator.catalog import Catalog

REPO_CATALOG = Path(__file__).resolve().parents[2] / "catalog"

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


def catalog_dir(tmp: Path, *, shipped: bool = True, models: dict[str, list[str]] | None = None) -> Path:
    """A catalog folder: the repo's shipped styles/presets/wildcards (copied) and fake models."""
    root = tmp / "catalog"
    root.mkdir(parents=True, exist_ok=True)
    for sub in ("styles", "presets", "wildcards"):
        if shipped:
            shutil.copytree(REPO_CATALOG / sub, root / sub, dirs_exist_ok=True)
        else:
            (root / sub).mkdir(exist_ok=True)
    write_models(root / "models", STANDARD_MODELS if models is None else models)
    return root


def standard_catalog(tmp: Path, **kwargs) -> Catalog:
    return Catalog(catalog_dir(tmp, **kwargs))


def safetensors_with(path: Path, shapes: dict[str, tuple[int, ...]]) -> Path:
    """A valid .safetensors file holding zero-filled float16 tensors of these shapes (keep them small:
    only the names and the dimensions the catalog reads matter)."""
    import json
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
SDXL_LORA_SHAPES = {"lora_unet_input_blocks_4_1_transformer_blocks_0_attn2_to_k.lora_down.weight": (4, 2048)}
SD15_LORA_SHAPES = {"lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k.lora_down.weight": (4, 768)}
