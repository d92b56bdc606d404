"""Inpaint pixels the way AUTOMATIC1111's img2img prepares and finishes them (contract A1111Inpaint).

Before diffusion: the mask keeps its grey levels (an RGBA mask with transparency gives its alpha, cut at
128 when the latent mask is rounded), is inverted if asked, then blurred by OpenCV's Gaussian across and
down. "Only masked": the box of its non-zero pixels plus `padding` (clamped), grown to the working
size's aspect, is cut from image and mask and brought to the working size by A1111's "resize and fill";
otherwise the whole image is the work. Unless the content is "original", the work's masked area is then
filled by A1111's premultiplied-alpha Gaussian fill. After: the decoded work is brought back to the box
by "crop and resize", and the original is laid over it with alpha 255 − mask (the whole picture: 255 −
2·mask), so a pixel where that mask is 0 is the input's, bit for bit.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageFilter

from contract.events import FailureKind
from contract.image_input import A1111Inpaint, InputImage, MaskedContent
from inference_worker.diffusers_kernel.image_input import pixels
from inference_worker.kernel import KernelError

LANCZOS = Image.Resampling.LANCZOS
# A1111's fill: Gaussian blurs of the premultiplied unmasked image, each composited `repeats` times.
_FILL_PASSES = ((256, 1), (64, 1), (16, 2), (4, 4), (2, 2), (0, 1))
_ALPHA_CUT = 128  # an alpha mask is "painted" above this when rounded

Box = tuple[int, int, int, int]  # (x1, y1, x2, y2), x2 and y2 exclusive


def blur_kernel_size(sigma: int) -> int:
    """A1111's kernel length for a blur of `sigma`: about 2.5 sigma each side of the centre, odd."""
    return 2 * int(2.5 * sigma + 0.5) + 1


def load_mask(image: InputImage, round_mask: bool) -> np.ndarray:
    """H×W uint8 as A1111 reads a mask: grey levels kept; an RGBA file with any transparency gives its alpha."""
    pixels.check_header(image, "image_input.mask")
    try:
        opened = Image.open(io.BytesIO(image.data))
        opened.load()
    except Exception as exc:  # noqa: BLE001 - whatever PIL says, the data is damaged
        raise KernelError(FailureKind.bad_request, f"image_input.mask: the image data is damaged ({exc})",
                          "image_input.mask") from None
    if opened.mode == "RGBA" and opened.getextrema()[-1] != (255, 255):
        alpha = np.asarray(opened.getchannel("A"))
        return np.where(alpha > _ALPHA_CUT, 255, 0).astype(np.uint8) if round_mask else alpha.copy()
    return np.asarray(opened.convert("L")).copy()


def blur(mask: np.ndarray, sigma_x: int, sigma_y: int) -> np.ndarray:
    """A horizontal, then a vertical Gaussian pass (0: no pass), OpenCV's reflected border, uint8."""
    out = mask
    if sigma_x > 0:
        out = cv2.GaussianBlur(out, (blur_kernel_size(sigma_x), 1), sigma_x)
    if sigma_y > 0:
        out = cv2.GaussianBlur(out, (1, blur_kernel_size(sigma_y)), sigma_y)
    return out


def mask_box(mask: np.ndarray, padding: int) -> Box | None:
    """The box of the non-zero pixels widened by `padding` on each side, within the image; None if none."""
    rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    if rows.size == 0:
        return None
    h, w = mask.shape
    return (max(int(cols[0]) - padding, 0), max(int(rows[0]) - padding, 0),
            min(int(cols[-1]) + 1 + padding, w), min(int(rows[-1]) + 1 + padding, h))


def _widen(lo: int, hi: int, want: float, limit: int) -> tuple[int, int]:
    grow = int(want - (hi - lo))  # truncated, as A1111 does; the odd pixel goes to the far side
    lo, hi = lo - grow // 2, hi + grow - grow // 2
    if hi >= limit:  # past the far edge: slide back
        lo, hi = lo - (hi - limit), limit
    if lo < 0:  # past the near edge: slide forward, then clamp the far edge
        lo, hi = 0, hi - lo
    return lo, min(hi, limit)


def expand_to_aspect(box: Box, work_w: int, work_h: int, image_w: int, image_h: int) -> Box:
    """Grow the box's short side (about its centre) until it has the working size's aspect, within the image."""
    x1, y1, x2, y2 = box
    aspect = work_w / work_h
    if (x2 - x1) / (y2 - y1) > aspect:
        y1, y2 = _widen(y1, y2, (x2 - x1) / aspect, image_h)
    else:
        x1, x2 = _widen(x1, x2, (y2 - y1) * aspect, image_w)
    return x1, y1, x2, y2


def _resize(image: Image.Image, w: int, h: int) -> Image.Image:
    return image if image.size == (w, h) else image.resize((w, h), resample=LANCZOS)


def resize_and_fill(image: Image.Image, w: int, h: int) -> Image.Image:
    """A1111's resize mode 2: fit inside w × h keeping the aspect, centred; the bands left are the image's
    first and last row (or column) stretched over them."""
    iw, ih = image.size
    fit_w = w if w / h < iw / ih else iw * h // ih
    fit_h = h if w / h >= iw / ih else ih * w // iw
    fitted = _resize(image, fit_w, fit_h)
    out = Image.new(image.mode, (w, h))
    out.paste(fitted, (w // 2 - fit_w // 2, h // 2 - fit_h // 2))
    if w / h < iw / ih:
        band = h // 2 - fit_h // 2
        if band > 0:
            out.paste(fitted.resize((w, band), box=(0, 0, w, 0)), (0, 0))
            out.paste(fitted.resize((w, band), box=(0, fit_h, w, fit_h)), (0, band + fit_h))
    elif w / h > iw / ih:
        band = w // 2 - fit_w // 2
        if band > 0:
            out.paste(fitted.resize((band, h), box=(0, 0, 0, h)), (0, 0))
            out.paste(fitted.resize((band, h), box=(fit_w, 0, fit_w, h)), (band + fit_w, 0))
    return out


def crop_and_resize(image: Image.Image, w: int, h: int) -> Image.Image:
    """A1111's resize mode 1: cover w × h keeping the aspect, centred, the excess cut off."""
    iw, ih = image.size
    cover_w = w if w / h > iw / ih else iw * h // ih
    cover_h = h if w / h <= iw / ih else ih * w // iw
    out = Image.new(image.mode, (w, h))
    out.paste(_resize(image, cover_w, cover_h), (w // 2 - cover_w // 2, h // 2 - cover_h // 2))
    return out


def fill(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """A1111's fill: the image with alpha 255 − mask (premultiplied) blurred ever less and piled up, so the
    masked area takes the colours around it and the rest stays (nearly) itself."""
    keep = Image.new("RGBa", (image.shape[1], image.shape[0]))
    keep.paste(Image.fromarray(image).convert("RGBA").convert("RGBa"), mask=Image.fromarray(255 - mask))
    piled = Image.new("RGBA", keep.size)
    for radius, repeats in _FILL_PASSES:
        layer = keep.filter(ImageFilter.GaussianBlur(radius)).convert("RGBA")
        for _ in range(repeats):
            piled.alpha_composite(layer)
    return np.asarray(piled.convert("RGB")).copy()


def overlay(result: Image.Image, original: np.ndarray, mask: np.ndarray) -> Image.Image:
    """The original laid over `result` (RGBA, the output's size) with alpha 255 − mask."""
    top = Image.new("RGBa", result.size)
    top.paste(Image.fromarray(original).convert("RGBA").convert("RGBa"), mask=Image.fromarray(255 - mask))
    out = result.convert("RGBA")
    out.alpha_composite(top.convert("RGBA"))
    return out.convert("RGB")


@dataclass
class A1111Area:
    image: np.ndarray  # the input, H×W×3
    overlay_mask: np.ndarray  # H×W: where the result shows through the final overlay (255: fully)
    box: Box | None  # only masked: where the work came from; None: the whole image
    work_image: np.ndarray  # what is encoded: the work, filled unless the content is "original"
    work_mask: np.ndarray  # the blurred mask over the work: the latent mask's source

    @property
    def work_size(self) -> tuple[int, int]:
        return self.work_image.shape[1], self.work_image.shape[0]

    def paste(self, result: Image.Image) -> Image.Image:
        h, w = self.overlay_mask.shape
        if self.box is None:
            under = result.convert("RGBA")
        else:
            x1, y1, x2, y2 = self.box
            under = Image.new("RGBA", (w, h))
            under.paste(crop_and_resize(result.convert("RGB"), x2 - x1, y2 - y1), (x1, y1))
        return overlay(under, self.image, self.overlay_mask)


def prepare(image: np.ndarray, mask: np.ndarray, steps: A1111Inpaint, invert: bool) -> A1111Area:
    """`image` H×W×3 and `mask` H×W (as load_mask reads it) → the work and how to put it back."""
    if invert:
        mask = 255 - mask
    mask = blur(mask, steps.blur_x, steps.blur_y)
    box = mask_box(mask, steps.padding) if steps.only_masked else None
    if not mask.any():
        raise KernelError(FailureKind.bad_request, "image_input.mask: the mask leaves nothing to repaint (every "
                          "pixel black after inverting and blurring)", "image_input.mask")
    if box is None:
        work, work_mask = image, mask
        shown = np.clip(mask.astype(np.float32) * 2, 0, 255).astype(np.uint8)  # A1111 doubles it here
    else:
        box = expand_to_aspect(box, steps.width, steps.height, image.shape[1], image.shape[0])
        x1, y1, x2, y2 = box
        size = (steps.width, steps.height)
        work = np.asarray(resize_and_fill(Image.fromarray(image[y1:y2, x1:x2]), *size))
        work_mask = np.asarray(resize_and_fill(Image.fromarray(mask[y1:y2, x1:x2]), *size))
        shown = mask
    if steps.content is not MaskedContent.original:
        work = fill(work, work_mask)
    return A1111Area(image, shown, box, np.ascontiguousarray(work), np.ascontiguousarray(work_mask))
