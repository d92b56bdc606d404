"""The latent side of AUTOMATIC1111's inpainting: its latent mask, start latent and hold.

- `latent_mask`: the work's blurred mask resized to latent size (PIL's bicubic), in 0 … 1, rounded to 0 / 1
  when asked (numpy's rounding: 0.5 goes to 0).
- `start_latent`: the encoded work; "latent noise" puts unit noise (a CPU generator of the task's first
  seed, as A1111 draws it once for the batch) inside the mask, "latent nothing" zeros. The same latent is
  what the hold keeps outside the mask.
- `DenoisedHold`: A1111 blends only the model's estimate (the denoised latent) with the start latent after
  each evaluation, never the noisy latent going in; `settle` is its blend of the sampler's result.
- `conditioning_mask`: what a 9-channel inpainting UNet reads: the mask at full size (rounded when asked),
  nearest-sampled to latent size, and the work with the masked part taken out (mid grey).
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from contract.image_input import MaskedContent
from contract.task import MAX_SEED
from inference_worker.diffusers_kernel.sampling.known_region import KnownRegion


def latent_mask(work_mask: np.ndarray, round_mask: bool) -> torch.Tensor:
    """(1, 1, H/8, W/8) float: 1 where the model repaints."""
    h, w = work_mask.shape
    small = np.asarray(Image.fromarray(work_mask).resize((w // 8, h // 8), Image.Resampling.BICUBIC))
    m = small.astype(np.float32) / 255.0
    if round_mask:
        m = np.around(m)
    return torch.from_numpy(m)[None, None]


def start_latent(encoded: torch.Tensor, mask: torch.Tensor, content: MaskedContent, seed: int) -> torch.Tensor:
    m = mask.to(encoded)
    if content is MaskedContent.latent_noise:
        generator = torch.Generator("cpu").manual_seed(seed % MAX_SEED)
        noise = torch.randn(encoded.shape, generator=generator, dtype=torch.float32).to(encoded)
        return encoded * (1.0 - m) + noise * m
    if content is MaskedContent.latent_nothing:
        return encoded * (1.0 - m)
    return encoded


class DenoisedHold(KnownRegion):
    """A1111's hold: the estimate is blended with the start latent; the latent going in is left alone."""

    def noised(self, x: torch.Tensor, sigma: float) -> torch.Tensor:
        return x


def settle(latents: torch.Tensor, known: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The sampler's result blended with the start latent outside the mask, as A1111 does after sampling."""
    m = mask.to(latents)
    return latents * m + known.to(latents) * (1.0 - m)


def conditioning_mask(work_mask: np.ndarray, round_mask: bool, latent_hw: tuple[int, int]) -> torch.Tensor:
    m = torch.from_numpy(work_mask.astype(np.float32) / 255.0)[None, None]
    if round_mask:
        m = torch.round(m)
    return torch.nn.functional.interpolate(m, size=latent_hw)


def masked_work(work_image: np.ndarray, work_mask: np.ndarray, round_mask: bool) -> np.ndarray:
    """The work with the masked part faded to mid grey (fully, where the mask is 1): the UNet's masked image."""
    m = work_mask.astype(np.float32) / 255.0
    if round_mask:
        m = np.round(m)
    return 127.5 + (work_image.astype(np.float32) - 127.5) * (1.0 - m[..., None])
