"""Embedded metadata: written in both schemes and all three formats, read back equal; foreign layouts read."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from orchestrator.store.metadata.image_io import decode_user_comment, probe, read_embedded
from orchestrator.store.metadata.text import embedded_text, parse
from tests.orchestrator.store.history_samples import image_bytes, sample_params

FORMATS = ["png", "jpeg", "webp"]
SCHEMES = ["fooocus", "a1111"]


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("fmt", FORMATS)
def test_written_metadata_reads_back_equal(fmt: str, scheme: str) -> None:
    params = sample_params(prompt="a red fox — naïve 狐, in snow", negative_prompt="blurry, «lowres»")
    written = embedded_text(params, scheme)
    data = image_bytes(fmt, written, size=(40, 24))
    found = probe(data)
    assert found.embedded == written
    assert (found.width, found.height, found.format) == (40, 24, fmt)
    again = parse(found.embedded["parameters"])
    assert again is not None
    assert (again.prompt, again.negative_prompt, again.seed) == (params.prompt, params.negative_prompt, params.seed)


def test_image_without_metadata_reads_empty() -> None:
    for fmt in FORMATS:
        assert read_embedded(image_bytes(fmt)) == {}


def _exif_jpeg(setup) -> bytes:
    exif = Image.Exif()
    setup(exif)
    buf = io.BytesIO()
    Image.new("RGB", (16, 16)).save(buf, format="JPEG", exif=exif)
    return buf.getvalue()


def test_reads_fooocus_layout_first_ifd_user_comment_and_maker_note() -> None:
    text = embedded_text(sample_params(), "fooocus")["parameters"]

    def fooocus(exif: Image.Exif) -> None:
        exif[0x9286] = text
        exif[0x0131] = "Fooocus v2.5.5"
        exif[0x927C] = "fooocus"

    assert read_embedded(_exif_jpeg(fooocus)) == {"parameters": text, "fooocus_scheme": "fooocus"}


def test_reads_a1111_layout_unicode_user_comment_in_exif_ifd() -> None:
    text = "a cat, 猫\nNegative prompt: dog\nSteps: 20, Sampler: Euler a, Seed: 1, Size: 512x512"

    def a1111(exif: Image.Exif) -> None:
        exif.get_ifd(0x8769)[0x9286] = b"UNICODE\x00" + text.encode("utf-16-be")

    assert read_embedded(_exif_jpeg(a1111)) == {"parameters": text}


def test_reads_a_mapping_stored_as_json_in_user_comment() -> None:
    mapping = {"parameters": '{"prompt": "x"}', "fooocus_scheme": "fooocus"}

    def as_json(exif: Image.Exif) -> None:
        import json

        exif.get_ifd(0x8769)[0x9286] = b"UNICODE\x00" + json.dumps(mapping).encode("utf-16-be")

    assert read_embedded(_exif_jpeg(as_json)) == mapping


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (b"UNICODE\x00" + "héllo".encode("utf-16-be"), "héllo"),
        (b"UNICODE\x00" + "héllo".encode("utf-16-le"), "héllo"),
        (b"ASCII\x00\x00\x00hello\x00", "hello"),
        (b"\x00" * 8 + "héllo".encode(), "héllo"),
        ("héllo".encode(), "héllo"),
        ("plain", "plain"),
        (b"UNICODE\x00", None),
        (None, None),
    ],
)
def test_user_comment_charsets(raw, text) -> None:
    assert decode_user_comment(raw) == text


def test_exif_formats_keep_extra_keys_as_one_mapping() -> None:
    from inference_worker.encode import encode_image

    mapping = {"parameters": "x", "comment": "y"}
    assert read_embedded(encode_image(Image.new("RGB", (8, 8)), "jpeg", mapping)) == mapping


def test_non_images_are_refused() -> None:
    with pytest.raises(OSError):
        probe(b"not an image at all")
    gif = io.BytesIO()
    Image.new("P", (4, 4)).save(gif, format="GIF")
    with pytest.raises(ValueError, match="not a png/jpeg/webp"):
        probe(gif.getvalue())


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("fmt", FORMATS)
def test_reads_what_the_worker_writes(fmt: str, scheme: str) -> None:
    encode = pytest.importorskip("inference_worker.encode")
    from contract.task import OutputFormat

    written = embedded_text(sample_params(prompt="worker 狐"), scheme)
    data = encode.encode_image(Image.new("RGB", (16, 16)), OutputFormat(fmt), written)
    assert read_embedded(data) == written
