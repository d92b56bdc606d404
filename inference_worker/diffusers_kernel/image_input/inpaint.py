"""Inpaint and Outpaint pixels, as Fooocus prepares and finishes them.

Before diffusion: the mask is eroded or dilated, inverted if asked, then image and mask are padded
(Outpaint: the image repeats its edge, the mask is 255 there); the respective-field box around the mask
is cut out and brought to shape ceil 1024 (Lanczos; Fooocus first upscales a smaller crop with its
super-resolution model, which this worker does not have); for a full repaint (denoise > 0.99) the masked
area of the crop is filled from its surroundings. After: the result goes back to the box's size, into
the padded image, and is blended in through the feathered mask, so every pixel more than 32 pixels
from the (eroded/dilated) mask is the input's, bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image

from contract.events import FailureKind
from contract.image_input import Inpaint
from inference_worker.diffusers_kernel.image_input import crop, pixels
from inference_worker.diffusers_kernel.image_input import mask as masks
from inference_worker.kernel import KernelError

WORKING_SHAPE_CEIL = 1024  # SDXL's working size; the crop is resized to this shape ceil
FILL_ABOVE_DENOISE = 0.99


@dataclass
class InpaintArea:
    image: np.ndarray  # the padded image, H×W×3
    soft: np.ndarray  # the feathered mask over it: the blend weight × 255
    box: crop.Box  # (top, bottom, left, right) of the crop
    work_image: np.ndarray  # the crop at the working size
    work_mask: np.ndarray  # its mask, 0 or 255
    work_fill: np.ndarray  # the crop with its masked area filled (or the crop itself)

    @property
    def work_size(self) -> tuple[int, int]:
        return self.work_image.shape[1], self.work_image.shape[0]

    def paste(self, result: Image.Image) -> Image.Image:
        top, bottom, left, right = self.box
        whole = self.image.copy()
        whole[top:bottom, left:right] = pixels.resize(
            np.asarray(result.convert("RGB")), right - left, bottom - top
        )
        weight = self.soft[..., None].astype(np.float32) / 255.0
        blended = whole.astype(np.float32) * weight + self.image.astype(np.float32) * (1.0 - weight)
        return Image.fromarray(blended.clip(0, 255).astype(np.uint8), "RGB")


def prepare(method: Inpaint, warn: Callable[[str], None]) -> InpaintArea:
    image = pixels.load_rgb(method.image, "image_input.image")
    if method.mask is None:  # Outpaint alone: nothing inside the image is repainted
        mask = np.zeros(image.shape[:2], np.uint8)
    else:
        mask = masks.erode_or_dilate(pixels.load_mask(method.mask, "image_input.mask"), method.erode_or_dilate)
    if method.invert_mask:
        mask = 255 - mask
    p = method.padding
    image = np.pad(image, ((p.top, p.bottom), (p.left, p.right), (0, 0)), mode="edge")
    mask = np.pad(mask, ((p.top, p.bottom), (p.left, p.right)), constant_values=255)
    if not mask.any():
        raise KernelError(
            FailureKind.bad_request,
            "image_input.mask: the mask leaves nothing to repaint (no pixel above 127, no padding)",
            "image_input.mask",
        )
    top, bottom, left, right = box = crop.respective_box(mask > 0, method.respective_field)
    cut, cut_mask = image[top:bottom, left:right], mask[top:bottom, left:right]
    if pixels.shape_ceil(right - left, bottom - top) < WORKING_SHAPE_CEIL:
        warn(
            f"inpaint area {right - left}×{bottom - top} resized to the working size with Lanczos "
            "(Fooocus first upscales it with a super-resolution model, which this worker does not have)"
        )
    w, h = pixels.size_for_shape_ceil(right - left, bottom - top, WORKING_SHAPE_CEIL)
    work_image = pixels.resize(cut, w, h)
    work_mask = np.where(pixels.resize(cut_mask, w, h) > 127, 255, 0).astype(np.uint8)
    work_fill = masks.fill(work_image, work_mask) if method.denoise > FILL_ABOVE_DENOISE else work_image
    return InpaintArea(image, masks.feather(mask), box, work_image, work_mask, work_fill)


def masked_pixels(area: InpaintArea) -> np.ndarray:
    """The crop with its masked area mid-grey: what the inpaint conditioning encodes."""
    out = area.work_image.astype(np.float32)
    out[area.work_mask > 127] = 127.5
    return out
