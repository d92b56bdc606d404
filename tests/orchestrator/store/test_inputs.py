"""The input store: files kept by sha256, and every check an input image must pass (store/input_checks.py)."""

from __future__ import annotations

import hashlib
import os
import time

import pytest
from PIL import Image

from contract.image_input import MAX_INPUT_BYTES
from orchestrator.common import file_lock
from orchestrator.store.input_checks import InputRefused
from orchestrator.store.inputs import InputMissing, InputStore
from tests.orchestrator.store.input_samples import image_file, noise_file, png_claiming, truncated


@pytest.mark.parametrize(("fmt", "name", "ext"), [("PNG", "png", "png"), ("JPEG", "jpeg", "jpeg"),
                                                  ("WEBP", "webp", "webp")])
def test_a_file_is_kept_under_its_sha256(tmp_path, fmt, name, ext) -> None:
    store = InputStore(tmp_path / "inputs")
    data = image_file(fmt, size=(70, 30))
    found = store.put(data, "$.uov_input_image")
    sha = hashlib.sha256(data).hexdigest()
    assert (found.sha256, found.width, found.height, found.format, found.nbytes) == (sha, 70, 30, name, len(data))
    assert found.history_id is None
    assert (tmp_path / "inputs" / f"{sha}.{ext}").read_bytes() == data
    assert store.has(sha) and store.read(sha) == data
    assert store.describe(sha, "x") == found


def test_the_same_bytes_are_kept_once(tmp_path) -> None:
    store = InputStore(tmp_path)
    data = image_file("PNG")
    first, again = store.put(data, "a"), store.put(data, "b")
    assert first == again
    assert [p.name for p in tmp_path.iterdir()] == [f"{first.sha256}.png"]  # no temp file left behind


def test_an_unknown_id_is_missing_not_a_path(tmp_path) -> None:
    store = InputStore(tmp_path)
    (tmp_path / "secret.png").write_bytes(image_file("PNG"))
    for ident in ("0" * 64, "../secret", "secret", "A" * 64):
        assert not store.has(ident) and store.path(ident) is None
    with pytest.raises(InputMissing, match="0" * 64):
        store.read("0" * 64)


def _refused(store: InputStore, data: bytes, field: str = "$.inpaint_input_image") -> str:
    with pytest.raises(InputRefused) as caught:
        store.put(data, field)
    assert caught.value.field == field
    assert not store.root.exists() or not any(store.root.iterdir())  # nothing kept
    return caught.value.message


def test_other_formats_and_non_images_are_refused(tmp_path) -> None:
    store = InputStore(tmp_path / "inputs")
    assert "GIF" in _refused(store, image_file("GIF"))
    assert "BMP" in _refused(store, image_file("BMP"))
    assert "not an image" in _refused(store, b"hello, this is text and not a picture")
    assert "empty" in _refused(store, b"")


def test_a_decompression_bomb_is_refused_from_its_header(tmp_path) -> None:
    store = InputStore(tmp_path / "inputs")
    bomb = png_claiming(50000, 50000)  # 7.5 GB of pixels in a few hundred bytes
    assert len(bomb) < 2000
    message = _refused(store, bomb)
    # Refused for its size, not found broken by decoding it (its image data holds one row at most).
    assert "too large" in message and "decode" not in message
    # Past our limits but below PIL's own bomb error (2 × 89,478,485 pixels): our check, with the sizes.
    with pytest.warns(Image.DecompressionBombWarning):  # PIL warns; the file is refused all the same
        assert "10000×10000" in _refused(store, png_claiming(10000, 10000))
    assert "9000×16" in _refused(store, png_claiming(9000, 16))  # one side too long, few pixels


def test_a_truncated_file_is_refused(tmp_path) -> None:
    store = InputStore(tmp_path / "inputs")
    assert "does not decode" in _refused(store, truncated(noise_file("PNG")))
    # PIL's verify() passes a cut JPEG: only a decode finds it.
    assert "does not decode" in _refused(store, truncated(noise_file("JPEG")))
    assert store.put(noise_file("JPEG"), "x").format == "jpeg"  # the whole file is taken


def test_the_byte_limit_is_inclusive(tmp_path) -> None:
    store = InputStore(tmp_path / "inputs")
    png = image_file("PNG")
    padded = png + b"\0" * (MAX_INPUT_BYTES - len(png))  # bytes after IEND are not image data
    assert store.put(padded, "x").nbytes == MAX_INPUT_BYTES
    message = _refused(InputStore(tmp_path / "other"), padded + b"\0")
    assert str(MAX_INPUT_BYTES + 1) in message and "64 MiB" in message


def test_a_dead_writers_temp_is_removed_a_live_ones_kept(tmp_path) -> None:
    dead, live = tmp_path / ".0123456789abcdef.tmp", tmp_path / ".fedcba9876543210.tmp"
    dead.write_bytes(b"half a file")
    live.write_bytes(b"being written")
    old = time.time() - 60
    for temp in (dead, live):
        os.utime(temp, (old, old))
    with open(live, "rb+") as holder:
        file_lock.lock(holder.fileno())
        InputStore(tmp_path)
        assert not dead.exists() and live.exists()


def test_prune_removes_old_files_no_pending_job_needs(tmp_path) -> None:
    store = InputStore(tmp_path / "inputs")
    old, needed, recent = (store.put(image_file("PNG", color=c), "$.x") for c in ((1, 2, 3), (4, 5, 6), (7, 8, 9)))
    week_ago = time.time() - 8 * 86400
    for found in (old, needed):
        os.utime(store.path(found.sha256), (week_ago, week_ago))
    assert store.prune({needed.sha256}, 7 * 86400) == [f"{old.sha256}.png"]
    assert not store.has(old.sha256) and store.has(needed.sha256) and store.has(recent.sha256)
    # Sending a kept file again starts its retention over.
    os.utime(store.path(recent.sha256), (week_ago, week_ago))
    store.put(store.read(recent.sha256), "$.x")
    assert store.prune(set(), 7 * 86400) == [f"{needed.sha256}.png"]
    assert store.has(recent.sha256)
