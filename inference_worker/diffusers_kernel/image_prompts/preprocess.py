"""Control maps: an image prompt's picture → the image its control model reads (Fooocus's preprocessors).

The picture is first brought to the diffusion's size the way Fooocus does it for a control image: scaled
(Lanczos) to cover width × height, aspect kept, and centre-cropped. Then, unless `skip_preprocessor` says
the picture is a control map already:

- PyraCanny: Canny edges (the task's low/high thresholds) of each colour channel over a pyramid of nine
  scales (0.2 … 1.0 of the size, area-downscaled); from the smallest up, the running map is resized
  (bilinear) to the next scale and blended 3:1 with that scale's edges; the three channels are summed and
  stretched so the 1st…99th percentiles span 0…255. (Control-LoRA Canny was trained on edges of mixed
  resolutions, hence the pyramid.)
- CPDS: OpenCV's `decolor` (Lu, Xu and Jia's contrast-preserving decolorization) of the lightly blurred
  picture (Gaussian, sigma 0.8): its grey image plus the distance of each pixel's colour from the colour
  boosted version, stretched so the 4th…96th percentiles span 0…255.

Maps are H×W×3 uint8 (grey repeated), the form the control model and a debug result take.
"""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from contract.image_prompt import ImagePromptType

_PYRAMID = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
_KEEP, _ADD = 0.75, 0.25  # the running map's share and the new scale's share at each level
_BLUR_SIGMA = 0.8


def cover_resize(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    """Scale to cover width × height (aspect kept, Lanczos), then crop the centre to exactly that size."""
    h, w = pixels.shape[:2]
    if width / height > w / h:
        new_w, new_h = width, h * width // w
    else:
        new_w, new_h = w * height // h, height
    scaled = Image.fromarray(pixels).resize((new_w, new_h), Image.Resampling.LANCZOS)
    canvas = Image.new("RGB", (width, height))  # a rounding pixel short stays black, as in Fooocus
    canvas.paste(scaled, (width // 2 - new_w // 2, height // 2 - new_h // 2))
    return np.asarray(canvas)


def _stretch(values: np.ndarray, low: float, high: float) -> np.ndarray:
    lo, hi = np.percentile(values, low), np.percentile(values, high)
    span = hi - lo
    if span <= 0:  # a flat map (no structure at all): nothing to stretch
        return np.zeros(values.shape, np.uint8)
    return ((values - lo) / span * 255.0).clip(0, 255).astype(np.uint8)


def _grey3(grey: np.ndarray) -> np.ndarray:
    return np.repeat(grey[:, :, None], 3, axis=2)


def canny_pyramid(rgb: np.ndarray, low: int, high: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    acc: np.ndarray | None = None
    for k in _PYRAMID:
        small = cv2.resize(rgb, (max(1, int(w * k)), max(1, int(h * k))), interpolation=cv2.INTER_AREA)
        edges = np.stack([cv2.Canny(small[:, :, c], low, high) for c in range(3)], axis=2).astype(np.float32)
        edges /= 255.0
        if acc is None:
            acc = edges
        else:
            acc = cv2.resize(acc, (edges.shape[1], edges.shape[0]), interpolation=cv2.INTER_LINEAR)
            acc = acc * _KEEP + edges * _ADD
    assert acc is not None
    return _grey3(_stretch(acc.sum(axis=2), 1, 99))


def cpds(rgb: np.ndarray) -> np.ndarray:
    blurred = cv2.GaussianBlur(rgb, (0, 0), _BLUR_SIGMA)
    grey, boosted = cv2.decolor(blurred)
    offset = np.sqrt(((blurred.astype(np.float32) - boosted.astype(np.float32)) ** 2).sum(axis=2))
    return _grey3(_stretch(grey.astype(np.float32) + offset, 4, 96))


def control_map(
    kind: ImagePromptType, rgb: np.ndarray, size: tuple[int, int], low: int, high: int, skip: bool
) -> np.ndarray:
    """The control image of one prompt at the diffusion's (width, height)."""
    picture = cover_resize(rgb, *size)
    if skip:
        return picture
    if kind is ImagePromptType.pyra_canny:
        return canny_pyramid(picture, low, high)
    if kind is ImagePromptType.cpds:
        return cpds(picture)
    raise ValueError(f"{kind.value} is not a control-model prompt")
