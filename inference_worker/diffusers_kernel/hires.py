"""Hires fix's second pass, as AUTOMATIC1111 runs it (contract.hires.HiresFix).

After the first pass has sampled its latent (and before anything decodes it): upscale it — a `Latent …`
upscaler interpolates the latent with torch (A1111's table of modes below); `None`/`Lanczos`/`Nearest`
decode it, resize the picture and encode it again — cut the centre to the final size, add fresh noise of
the image's seed at that size × the first level, and sample `steps` steps on the tail of a schedule of
int(steps / denoise) steps. That is A1111's own count for this pass: it hands the pass its steps
explicitly, which takes its "fixed steps" img2img path (`t_enc = steps − 1` on an int(steps / denoise)
schedule, noise × the tail's first level) whatever `img2img_fix_steps` says; image_input/img2img.py's
tail is the same rule.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from PIL import Image

from contract.hires import HiresFix, HiresUpscaler
from inference_worker.diffusers_kernel.image_input import vae_io
from inference_worker.diffusers_kernel.sampling.denoiser import Denoiser
from inference_worker.diffusers_kernel.sampling.noise import NoiseSource
from inference_worker.diffusers_kernel.sampling.samplers import start_noise_scale

# A1111's `latent_upscale_modes`: upscaler → (torch interpolate mode, antialias)
LATENT_MODES: dict[HiresUpscaler, tuple[str, bool]] = {
    HiresUpscaler.latent: ("bilinear", False),
    HiresUpscaler.latent_antialiased: ("bilinear", True),
    HiresUpscaler.latent_bicubic: ("bicubic", False),
    HiresUpscaler.latent_bicubic_antialiased: ("bicubic", True),
    HiresUpscaler.latent_nearest: ("nearest", False),
    HiresUpscaler.latent_nearest_exact: ("nearest-exact", False),
}


def tiled(width: int, height: int) -> bool:
    return width * height > vae_io.TILE_ABOVE_PIXELS


def upscale_latent(latents: torch.Tensor, fix: HiresFix) -> torch.Tensor:
    mode, antialias = LATENT_MODES[fix.upscaler]
    size = (fix.upscaled_height // 8, fix.upscaled_width // 8)
    return torch.nn.functional.interpolate(latents, size=size, mode=mode, antialias=antialias)


def resize_picture(image: Image.Image, fix: HiresFix) -> Image.Image:
    """A1111's resize with a pixel upscaler: `Nearest` repeats pixels up to the scale, then (as `None` and
    `Lanczos` do at once) a Lanczos resize to the exact size."""
    size = (fix.upscaled_width, fix.upscaled_height)
    if fix.upscaler is HiresUpscaler.nearest:
        scale = max(size[0] / image.width, size[1] / image.height)
        if scale > 1.0:
            image = image.resize((int(image.width * scale), int(image.height * scale)), Image.Resampling.NEAREST)
    if image.size != size:
        image = image.resize(size, Image.Resampling.LANCZOS)
    return image


def upscale(latents: torch.Tensor, fix: HiresFix, vae: Any) -> torch.Tensor:
    """The first pass's latent at the upscaled size, cut to the final size about its centre."""
    if fix.upscaler in LATENT_MODES:
        big = upscale_latent(latents, fix)
    else:
        picture = vae_io.decode(vae, latents, tiled=tiled(latents.shape[3] * 8, latents.shape[2] * 8))
        resized = resize_picture(picture, fix)
        big = vae_io.encode(vae, _array(resized), tiled=tiled(*resized.size)).to(latents.device)
    left, top = fix.crop()
    return big[:, :, top : top + fix.height // 8, left : left + fix.width // 8]


def _array(image: Image.Image):
    import numpy as np

    return np.asarray(image.convert("RGB"))


@dataclass
class SecondPass:
    """What the kernel lends the pass: its sampler, its model pass at the final size, its schedule builder."""

    fix: HiresFix
    seed: int
    variation: tuple[int, float] | None  # (variation seed, strength) of the image, or None
    device: torch.device
    vae: Any
    sampler: Callable
    model_pass: Any  # sampling.denoiser.ModelPass, conditioned for the final size
    guidance: Any
    schedule: Callable[[], torch.Tensor]  # the pass's sigmas: `steps` steps, the tail at `denoise`
    on_step: Callable[[int, torch.Tensor], None]


def run(first: torch.Tensor, p: SecondPass) -> torch.Tensor:
    """The latent the image decodes from."""
    start = upscale(first, p.fix, p.vae).to(torch.float32)
    sig = p.schedule()
    # a fresh generator of the seed (and the variation seed), as A1111's second pass makes its noise
    noise = NoiseSource(p.seed, p.device, span=sig, variation=p.variation)
    scale = start_noise_scale(float(sig[0]), p.model_pass.sigmas.sigma_max)
    x = noise.start(tuple(start.shape), 1.0) * scale + start
    # The pass's own prompt schedule counts its calls from 0, as AUTOMATIC1111 restarts its denoiser's count.
    return p.sampler(Denoiser([p.model_pass], p.guidance), x, sig, noise, p.on_step)
