"""What an image input is refused for, by field, before any model runs."""

from __future__ import annotations

import hashlib
import struct
import zlib

import numpy as np
import pytest

from contract.events import FailureKind
from inference_worker.kernel import KernelError, check_image_method
from tests.inference_worker.diffusers_kernel.image_input.image_files import (
    image_file,
    noise_image,
    square_mask,
)

REF = {"name": "x", "path": "/models/x.safetensors"}


def _file(data: bytes, width: int = 64, height: int = 64) -> dict:
    return {"data": data, "sha256": hashlib.sha256(data).hexdigest(), "width": width, "height": height}


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG signature, an IHDR claiming width × height and an IEND: no pixel data."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def _refusal(kernel, task) -> KernelError:
    with pytest.raises(KernelError) as exc:  # the worker's gate, then the kernel's own checks, as the server runs them
        check_image_method(kernel, task)
        kernel.check(task)
    return exc.value


@pytest.mark.parametrize(
    ("image", "words"),
    [
        (_file(b""), "empty"),
        (image_file(noise_image(64, 64), "GIF"), "GIF"),
        (image_file(noise_image(64, 48)) | {"height": 64}, "64×48"),
        (_file(_png_header_only(9000, 9000)), "pixels"),
        (_file(b"not an image at all"), "not a readable image"),
    ],
)
def test_bad_images_are_refused_naming_the_field(kernel, make, image, words):
    err = _refusal(kernel, make(image_input={"method": "vary", "image": image, "denoise": 0.5}))
    assert (err.kind, err.field) == (FailureKind.bad_request, "image_input.image") and words in err.message
    good = image_file(noise_image(64, 64))
    err = _refusal(kernel, make(image_input={"method": "inpaint", "image": good, "mask": image}))
    assert (err.kind, err.field) == (FailureKind.bad_request, "image_input.mask")


def test_an_upscaler_is_refused_by_name_and_the_inpaint_engine_passes_the_gate(kernel, make):
    img = image_file(noise_image(64, 64))
    err = _refusal(kernel, make(image_input={"method": "upscale", "image": img, "upscaler": REF}))
    assert (err.kind, err.field) == (FailureKind.unsupported, "image_input.upscaler")
    assert "runs no super-resolution model" in err.message
    assert "inpaint.engine" in kernel.image_methods()  # its files are checked when loaded (test_inpaint_engine)
    engine = {"version": "v2.6", "head": REF, "patch": REF}
    mask = image_file(square_mask(64, 64, 10, 10, 10))
    task = make(image_input={"method": "inpaint", "image": img, "mask": mask, "engine": engine})
    check_image_method(kernel, task)
    kernel.check(task)


def test_a_mask_with_nothing_to_repaint_is_refused(kernel, make):
    from tests.inference_worker.diffusers_kernel.fidelity_models import run

    img, empty = image_file(noise_image(64, 64)), image_file(np.zeros((64, 64), np.uint8))
    with pytest.raises(KernelError) as exc:
        run(kernel, make(image_input={"method": "inpaint", "image": img, "mask": empty}))
    assert exc.value.field == "image_input.mask"
