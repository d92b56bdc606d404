"""Pixels ⇄ latents through a VAE, tiled when asked.

Encoding takes the mean of the VAE's latent distribution (deterministic: a seed means one image), shifted
and scaled into the sampler's latent space. Tiling uses diffusers' own (`use_tiling`), on only for the
call, since the VAE belongs to a cached model that other tasks decode with untiled. A VAE padding circularly
(a seamless-tiling task, loading/seamless.py) is never tiled: each tile would wrap around at its own edges.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from PIL import Image

TILE_ABOVE_PIXELS = 1024 * 1024  # larger images are encoded and decoded in tiles


def _wraps(vae: Any) -> bool:
    return any(getattr(m, "padding_mode", None) == "circular" for m in vae.modules())


@contextmanager
def _tiling(vae: Any, tiled: bool) -> Iterator[None]:
    before = getattr(vae, "use_tiling", False)
    vae.use_tiling = tiled and not _wraps(vae)
    try:
        yield
    finally:
        vae.use_tiling = before


def _shift(vae: Any) -> float:
    return getattr(vae.config, "shift_factor", None) or 0.0


@torch.inference_mode()
def encode(vae: Any, pixels: np.ndarray, tiled: bool = False) -> torch.Tensor:
    """H×W×3 uint8 (sides multiples of 8) → (1, C, H/8, W/8) float32 latent."""
    x = torch.from_numpy(pixels.astype(np.float32) / 127.5 - 1.0).permute(2, 0, 1)[None]
    with _tiling(vae, tiled):
        mean = vae.encode(x.to(vae.device, vae.dtype)).latent_dist.mean
    return (mean.float() - _shift(vae)) * vae.config.scaling_factor


@torch.inference_mode()
def decode(vae: Any, latents: torch.Tensor, tiled: bool = False) -> Image.Image:
    scaled = latents / vae.config.scaling_factor + _shift(vae)
    with _tiling(vae, tiled):
        pixels = vae.decode(scaled.to(vae.device, vae.dtype), return_dict=False)[0].float()
    pixels = ((pixels[0] / 2 + 0.5).clamp(0, 1) * 255).round().to(torch.uint8)
    return Image.fromarray(pixels.permute(1, 2, 0).cpu().numpy(), "RGB")
