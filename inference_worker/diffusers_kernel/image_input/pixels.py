"""Input image files → pixels, and the size rules Fooocus resizes by.

An image is refused (bad_request, naming its field) when its data is empty, is not a PNG, JPEG or WebP
file, is larger than `MAX_INPUT_PIXELS`, or has another size than the one declared beside it; all of this
is read from the header before any pixel is decoded. Transparent pixels are composited on white for an
image (a cut-out reads as on paper) and on black for a mask (transparent = not painted = kept). EXIF
orientation is not applied: the declared size is the stored one.
"""

from __future__ import annotations

import io
import math
import warnings

import numpy as np
from PIL import Image

from contract.events import FailureKind
from contract.image_input import MAX_INPUT_PIXELS, InputImage
from inference_worker.kernel import KernelError

FORMATS = frozenset({"PNG", "JPEG", "WEBP"})
LANCZOS = Image.Resampling.LANCZOS


def _refuse(field: str, message: str) -> KernelError:
    return KernelError(FailureKind.bad_request, f"{field}: {message}", field)


def _open(image: InputImage, field: str) -> Image.Image:
    if not image.data:
        raise _refuse(field, "the image data is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit is checked below
            opened = Image.open(io.BytesIO(image.data))
    except Exception as exc:  # noqa: BLE001 - whatever PIL says, the file is not an image it reads
        raise _refuse(field, f"not a readable image file ({exc})") from None
    if opened.format not in FORMATS:
        raise _refuse(field, f"a {opened.format} file; PNG, JPEG or WebP is accepted")
    w, h = opened.size
    if w * h > MAX_INPUT_PIXELS:
        raise _refuse(field, f"{w}×{h} is more than {MAX_INPUT_PIXELS} pixels")
    if (w, h) != (image.width, image.height):
        raise _refuse(field, f"the file is {w}×{h} but {image.width}×{image.height} was declared")
    return opened


def check_header(image: InputImage, field: str) -> None:
    """The refusals that need no pixel decoded."""
    _open(image, field)


def _flatten(opened: Image.Image, field: str, background: int) -> Image.Image:
    try:
        opened.load()
        rgba = opened.convert("RGBA")
    except Exception as exc:  # noqa: BLE001
        raise _refuse(field, f"the image data is damaged ({exc})") from None
    ground = Image.new("RGBA", rgba.size, (background,) * 3 + (255,))
    return Image.alpha_composite(ground, rgba).convert("RGB")


def load_rgb(image: InputImage, field: str) -> np.ndarray:
    """H×W×3 uint8."""
    return np.asarray(_flatten(_open(image, field), field, 255)).copy()


def load_mask(image: InputImage, field: str) -> np.ndarray:
    """H×W uint8, 255 where the user painted (grey level > 127), else 0."""
    grey = np.asarray(_flatten(_open(image, field), field, 0).convert("L"))
    return np.where(grey > 127, 255, 0).astype(np.uint8)


def resize(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    """Lanczos, as Fooocus resamples; the same size returns the array itself."""
    if pixels.shape[1] == width and pixels.shape[0] == height:
        return pixels
    return np.asarray(Image.fromarray(pixels).resize((width, height), LANCZOS))


def shape_ceil(width: float, height: float) -> int:
    """The side of the square of the same area, rounded up to 64."""
    return int(math.ceil(math.sqrt(width * height) / 64.0) * 64)


def size_for_shape_ceil(width: int, height: int, target: int) -> tuple[int, int]:
    """Fooocus's size for an image brought to `target` shape ceil: scale, round both sides to 64, repeat
    until the shape ceil is the target. A size already there stays as it is if a multiple of 8 (the
    VAE's stride), else is rounded to 64."""
    w, h = width, height
    for _ in range(256):
        if shape_ceil(w, h) == target:
            break
        k = target / shape_ceil(w, h)
        # (never below 64: a crop a few pixels wide would round to nothing)
        w, h = max(64, int(round(w * k / 64.0) * 64)), max(64, int(round(h * k / 64.0) * 64))
    if w % 8 or h % 8:
        w, h = max(64, int(round(w / 64.0)) * 64), max(64, int(round(h / 64.0)) * 64)
    return w, h
