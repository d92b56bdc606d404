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
