"""Mask operations of Fooocus's inpainting, on H×W uint8 masks (255 = repaint).

- `erode_or_dilate`: k passes of a 3×3 minimum (k < 0) or maximum (k > 0) filter, i.e. a square of side
  2|k| + 1; pixels beyond the border never count.
- `feather`: the blending weight. Fooocus grows a soft edge outwards: 255 on the mask, then 8 less per
  pixel of (chessboard) distance, 0 from 32 pixels away; inside the mask nothing changes.
- `fill`: Fooocus's fill of the masked area for a full repaint: repeated box blurs from radius 512 down
  to 3, the pixels outside the mask put back after each, so the hole takes the colours around it.
- `latent_mask`: 1 for every 8×8 block (one latent pixel) that holds any masked pixel.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageFilter

_FILL_PASSES = ((512, 2), (256, 2), (128, 4), (64, 4), (33, 8), (15, 8), (5, 16), (3, 16))
_FEATHER_STEP, _FEATHER_REACH = 8, 32


def _max3(x: torch.Tensor, passes: int) -> torch.Tensor:
    # max_pool2d pads with -inf, so the border never adds to the maximum (nor, negated, to the minimum)
    return torch.nn.functional.max_pool2d(x[None, None], 2 * passes + 1, stride=1, padding=passes)[0, 0]


def erode_or_dilate(mask: np.ndarray, k: int) -> np.ndarray:
    if k == 0:
        return mask
    x = torch.from_numpy(mask.astype(np.float32))
    out = _max3(x, k) if k > 0 else -_max3(-x, -k)
    return out.numpy().astype(np.uint8)


def feather(mask: np.ndarray) -> np.ndarray:
    x = torch.from_numpy(np.where(mask > 127, 256.0, 0.0).astype(np.float32))
    for _ in range(_FEATHER_REACH):
        x = torch.maximum(_max3(x, 1) - _FEATHER_STEP, x)
    return x.clamp(0, 255).numpy().astype(np.uint8)


def fill(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    keep = mask < 127
    original = image[keep]
    current = image.copy()
    for radius, repeats in _FILL_PASSES:
        for _ in range(repeats):
            current = np.asarray(Image.fromarray(current).filter(ImageFilter.BoxBlur(radius))).copy()
            current[keep] = original
    return current


def latent_mask(mask: np.ndarray) -> torch.Tensor:
    """(1, 1, H/8, W/8) float tensor of a mask whose sides are multiples of 8."""
    x = torch.from_numpy((mask > 127).astype(np.float32))[None, None]
    return torch.nn.functional.max_pool2d(x, 8)
