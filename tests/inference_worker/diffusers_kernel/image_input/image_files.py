"""Helpers of the image-input tests: input files, decoded outputs and a recorder on the base UNet."""

from __future__ import annotations

import hashlib
import io
from contextlib import contextmanager

import numpy as np
import torch
from PIL import Image


def image_file(pixels: np.ndarray, fmt: str = "PNG") -> dict:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, fmt)
    data = buf.getvalue()
    return {"data": data, "sha256": hashlib.sha256(data).hexdigest(),
            "width": pixels.shape[1], "height": pixels.shape[0]}  # fmt: skip


def noise_image(width: int, height: int, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).random((height, width, 3)) * 255).astype(np.uint8)


def square_mask(width: int, height: int, top: int, left: int, side: int) -> np.ndarray:
    mask = np.zeros((height, width), np.uint8)
    mask[top : top + side, left : left + side] = 255
    return mask


def output(result, index: int = 0) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(result.images[index].data)).convert("RGB"))


class UnetCalls:
    """Every call of the base UNet: the latent shape and timestep it saw; `zero` makes it predict 0."""

    def __init__(self) -> None:
        self.shapes: list[tuple[int, ...]] = []
        self.timesteps: list[float] = []
        self.zero = False

    def __call__(self, module, args, kwargs, out):
        self.shapes.append(tuple(args[0].shape))
        self.timesteps.append(float(args[1]))
        if self.zero:
            return (torch.zeros_like(out[0]),)
        return None


@contextmanager
def recording(kernel, zero: bool = False):
    calls = UnetCalls()
    calls.zero = zero
    handle = kernel._models.base.pipe.unet.register_forward_hook(calls, with_kwargs=True)
    try:
        yield calls
    finally:
        handle.remove()
