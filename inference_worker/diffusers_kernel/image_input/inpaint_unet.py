"""What a checkpoint's own inpainting UNet (9 input channels) reads besides the latent, when no mask is given.

Such a UNet (SDXL inpainting 0.1, SD 1.5 inpainting) takes [latent, mask, masked-image latent]. An inpaint
task gives it its mask and masked image (inputs.py). Every other pass on it (text to image, Vary, Upscale,
the hires fix's second pass) gets what AUTOMATIC1111 gives an inpainting model without a mask, and what
ComfyUI (so Fooocus) approximates: the mask all ones (everything is repainted) and the latent of a
mid-grey picture (a masked image with everything masked out).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from contract.checkpoint import INPAINT_CHANNELS
from inference_worker.diffusers_kernel.image_input import vae_io

MID_GREY = 127.5  # 0 on the VAE's [-1, 1] input scale


def takes_mask(unet: Any) -> bool:
    return int(unet.config.in_channels) == INPAINT_CHANNELS


def unmasked_conditioning(vae: Any, size: tuple[int, int]) -> torch.Tensor:
    """(1, 5, H/8, W/8): a mask of ones, then the latent of a mid-grey width × height picture."""
    width, height = size
    grey = vae_io.encode(vae, np.full((height, width, 3), MID_GREY, np.float32),
                         tiled=width * height > vae_io.TILE_ABOVE_PIXELS)
    return torch.cat([torch.ones_like(grey[:, :1]), grey], dim=1)
