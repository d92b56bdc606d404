"""What an input image file must be before the server keeps it: PNG, JPEG or WebP, within the contract's
limits (contract/image_input.py), and whole.

The limits are checked on the header alone (PIL's `Image.open` reads no pixels), so a decompression bomb
— a small file whose header promises billions of pixels — is refused before anything is decoded. Only a
file that passes is decoded once, to find a truncated or corrupt one here rather than in a worker.
No global PIL setting is changed: PIL's own bomb limit (twice MAX_IMAGE_PIXELS, far above ours) still
applies and is answered like ours.
"""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass

from PIL import Image

from contract.image_input import MAX_INPUT_BYTES, MAX_INPUT_PIXELS, MAX_INPUT_SIDE
from orchestrator.common.field_error import FieldError

# PIL's format name → the name the API and the store use. MPO is the multi-picture JPEG many phone
# cameras write: a plain JPEG for every reader that takes its first picture.
FORMATS = {"PNG": "png", "JPEG": "jpeg", "MPO": "jpeg", "WEBP": "webp"}
MEDIA_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
EXTENSIONS = {"png": "png", "jpeg": "jpeg", "webp": "webp"}
# A full decode holds the pixels (up to 8192² × 4 bytes, more for 16-bit PNGs): two at a time at most,
# however many requests arrive together.
_DECODING = threading.BoundedSemaphore(2)


class InputRefused(FieldError):
    """An input image that is not taken; `field` names where it came from (`$.uov_input_image`, `file`)."""


@dataclass(frozen=True)
class Header:
    format: str  # "png", "jpeg" or "webp"
    width: int
    height: int


def check_size(nbytes: int, field: str) -> None:
    if nbytes > MAX_INPUT_BYTES:
        raise InputRefused(field, f"the file has {nbytes} bytes; an input image may have at most "
                                  f"{MAX_INPUT_BYTES} ({MAX_INPUT_BYTES // 2**20} MiB)")
    if nbytes == 0:
        raise InputRefused(field, "the file is empty")


def read_header(data: bytes, field: str) -> Header:
    """The format and size the file's header says, after every check that needs no decoding."""
    check_size(len(data), field)
    try:
        image = Image.open(io.BytesIO(data))  # the header only
    except Image.DecompressionBombError as exc:
        raise InputRefused(field, f"the image is too large ({exc}); at most {MAX_INPUT_SIDE}×{MAX_INPUT_SIDE} "
                                  "pixels are taken") from None
    except Exception:  # PIL raises many kinds on files that are not images; each means the same here
        raise InputRefused(field, "not an image file (PNG, JPEG or WebP were expected)") from None
    with image:
        found, (width, height) = image.format, image.size
    fmt = FORMATS.get(found or "")
    if fmt is None:
        raise InputRefused(field, f"the file is a {found} image; PNG, JPEG and WebP are taken")
    if width > MAX_INPUT_SIDE or height > MAX_INPUT_SIDE or width * height > MAX_INPUT_PIXELS:
        raise InputRefused(field, f"the image is {width}×{height}; at most {MAX_INPUT_SIDE} pixels a side and "
                                  f"{MAX_INPUT_PIXELS} pixels in all are taken")
    return Header(format=fmt, width=width, height=height)


def check_decodes(data: bytes, header: Header, field: str) -> None:
    """Decode the whole file once (call off the event loop): a truncated or corrupt file is refused."""
    with _DECODING:
        try:
            with Image.open(io.BytesIO(data)) as image:
                if header.format == "jpeg":
                    # JPEG decodes at 1/8 scale: every byte of the stream is still read, the pixels are not kept.
                    image.draft(image.mode, (max(1, header.width // 8), max(1, header.height // 8)))
                image.load()
        except Exception as exc:  # whatever PIL raises, the file does not decode
            raise InputRefused(field, f"the {header.format.upper()} file does not decode ({exc}); is it "
                                      "truncated?") from None
