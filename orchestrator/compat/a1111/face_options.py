"""The settings A1111's face keeps (`GET/POST /sdapi/v1/options`) and the checkpoint titles it shows.

A1111 keeps one global model: `sd_model_checkpoint` picks it for every later request. Here it is the base
model this face's requests use (the /v1 API and RemGo's face keep their presets). Kept in memory until the
server stops. Besides the three settings a client may change, the answer reports facts of how this face
runs, so a client reading them sees the truth; setting one of those to another value is refused.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any

from orchestrator.catalog import Catalog, CatalogError, ModelFile, ModelKind
from orchestrator.catalog.preset_fit import NONE_NAMES
from orchestrator.catalog.tables import BUILTIN
from orchestrator.common.field_error import FieldError, close_matches

AUTOMATIC_VAE = "Automatic"
VAE_NONE = "None"
CHANGEABLE = ("sd_model_checkpoint", "sd_vae", "CLIP_stop_at_last_layers")
# How this face runs, in A1111's option names (read-only).
FIXED: dict[str, Any] = {
    "img2img_fix_steps": True,  # img2img runs exactly `steps` steps, over the tail of a longer schedule
    "return_grid": False,  # no grid image: the answer holds the images alone
    "samples_format": "png",
    "eta_ancestral": 1.0,
    "eta_ddim": 0.0,  # A1111's default: a null eta runs DDIM at 0 (an explicit 1 runs too)
    "s_churn": 0.0,
    "s_tmin": 0.0,
    "s_noise": 1.0,
    "s_min_uncond": 0.0,
    "initial_noise_multiplier": 1.0,
    "face_restoration": False,
    "tiling": False,
    "enable_quantization": False,  # the UNet sees each level's fractional timestep (remgo's `interpolated`)
    # An image's noise: a CPU generator seeded with its seed, start then fresh noise (sampling/noise.py)
    "randn_source": "CPU",
    "eta_noise_seed_delta": 0,
    # UniPC as A1111 runs it by default (remgo's uni_pc on the a1111_unipc times)
    "uni_pc_variant": "bh1",
    "uni_pc_skip_type": "time_uniform",
    "uni_pc_order": 3,
    "uni_pc_lower_order_final": True,
    "sd_vae_overrides_per_model_preferences": True,
}


class OptionRefused(FieldError):
    pass


def title(model: ModelFile, short_hash: str | None) -> str:
    """A1111's checkpoint title: `name [shorthash]` (the name alone while the hash is not known)."""
    return f"{model.name} [{short_hash}]" if short_hash else model.name


def model_name(model: ModelFile) -> str:
    return os.path.splitext(model.name.replace("/", "_").replace("\\", "_"))[0]


def find_checkpoint(catalog: Catalog, given: str, field: str) -> ModelFile:
    """A checkpoint by any name A1111 takes: title, file name (with or without the hash), model name,
    file stem or short hash."""
    text = given.strip()
    models = catalog.snapshot().models[ModelKind.checkpoints]
    bare = text.rsplit(" [", 1)[0] if text.endswith("]") else text
    for model in models.values():
        short = catalog.known_hash(model)
        stem = os.path.splitext(os.path.basename(model.name))[0]
        if text in (title(model, short), model.name, model_name(model), stem) or bare == model.name or (
                short is not None and text == short):
            return model
    raise OptionRefused(field, f"no checkpoint {given!r}", close_matches(bare, list(models)))


def find_vae(catalog: Catalog, given: str, field: str) -> str | None:
    """The VAE file's catalog name; None for the checkpoint's own (A1111's `Automatic` and `None`)."""
    text = given.strip()
    if text in (AUTOMATIC_VAE, VAE_NONE) or text in NONE_NAMES:
        return None
    try:
        return catalog.model(ModelKind.vae, text, field).name
    except CatalogError as exc:
        raise OptionRefused(field, exc.message, exc.suggestions) from None


def clip_stop(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value or not 1 <= value <= 12:
        raise OptionRefused(field, f"must be a whole number of layers 1…12, got {value!r}")
    return int(value)


@dataclass
class FaceOptions:
    checkpoint: str | None = None  # catalog name; None: the default preset's
    vae: str | None = None  # catalog name; None: the checkpoint's own
    vae_label: str = AUTOMATIC_VAE
    clip_skip: int = BUILTIN.clip_skip

    def __post_init__(self) -> None:
        self.lock = threading.Lock()

    def payload(self, catalog: Catalog, default_checkpoint: str | None) -> dict[str, Any]:
        name = self.checkpoint or default_checkpoint
        shown = name
        if name is not None:
            found = catalog.snapshot().models[ModelKind.checkpoints].get(name)
            shown = title(found, catalog.known_hash(found)) if found is not None else name
        return {"sd_model_checkpoint": shown, "sd_vae": self.vae_label,
                "CLIP_stop_at_last_layers": self.clip_skip, **FIXED}

    def apply(self, catalog: Catalog, values: dict[str, Any], prefix: str = "") -> None:
        """Check every value first, then change: a refused body changes nothing."""
        changes: dict[str, Any] = {}
        for key, value in values.items():
            field = f"{prefix}{key}" or '$[""]'  # an empty key is still named: the body's empty member
            if key == "sd_model_checkpoint":
                if not isinstance(value, str):
                    raise OptionRefused(field, f"must be a checkpoint title, got {value!r}")
                changes["checkpoint"] = find_checkpoint(catalog, value, field).name
            elif key == "sd_vae":
                if not isinstance(value, str):
                    raise OptionRefused(field, f"must be a VAE name, Automatic or None, got {value!r}")
                changes["vae"] = find_vae(catalog, value, field)
                changes["vae_label"] = value.strip() if changes["vae"] is None else changes["vae"]
            elif key == "CLIP_stop_at_last_layers":
                changes["clip_skip"] = clip_stop(value, field)
            elif key in FIXED and FIXED[key] == value:
                continue
            elif key in FIXED:
                raise OptionRefused(field, f"this server runs with {key} = {FIXED[key]!r}; it cannot be changed")
            else:
                raise OptionRefused(field, f"{key} is not a setting of this server; only "
                                           f"{', '.join(CHANGEABLE)} can be set", close_matches(key, CHANGEABLE))
        with self.lock:
            for key, value in changes.items():
                setattr(self, key, value)
