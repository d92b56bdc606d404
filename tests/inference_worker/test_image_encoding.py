"""Encoded outputs carry their metadata: PNG text chunks, EXIF for JPEG and WebP."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from contract.task import OutputFormat
from inference_worker.encode import encode_image
from orchestrator.store.metadata.image_io import read_embedded as read_metadata

IMAGE = Image.linear_gradient("L").convert("RGB").resize((64, 48))


@pytest.mark.parametrize("fmt", list(OutputFormat))
def test_metadata_round_trips(fmt):
    meta = {"parameters": "Ünïcödé prompt — 雪の狐", "fooocus_scheme": "fooocus"}
    data = encode_image(IMAGE, fmt, meta)
    img = Image.open(io.BytesIO(data))
    assert img.size == (64, 48) and img.format == {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}[fmt.value]
    assert read_metadata(data) == meta


@pytest.mark.parametrize("fmt", list(OutputFormat))
def test_no_metadata_embeds_nothing(fmt):
    assert read_metadata(encode_image(IMAGE, fmt, {})) == {}


def test_a1111_parameters_alone_are_stored_as_plain_text():
    data = encode_image(IMAGE, OutputFormat.jpeg, {"parameters": "a fox\nSteps: 30"})
    assert read_metadata(data) == {"parameters": "a fox\nSteps: 30"}
    exif = Image.open(io.BytesIO(data)).getexif().get_ifd(0x8769)[0x9286]
    assert exif.startswith(b"UNICODE\x00") and "a fox".encode("utf-16-be") in exif
