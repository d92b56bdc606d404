"""A request's image fields → files in the input store: inline (base64, URL-safe, data URI), by upload id and
by history row all name the same stored file; each refusal names the field."""

from __future__ import annotations

import base64
import hashlib

import msgspec
import pytest

from contract.request import GenerateRequest, ImageSource
from orchestrator.store.history.index import History
from orchestrator.store.input_checks import InputRefused
from orchestrator.store.input_refs import MAX_BASE64_CHARS, InputResolver, decode_inline
from orchestrator.store.inputs import InputStore
from orchestrator.store.outputs import OutputStore
from tests.orchestrator.store.history_samples import sample_params
from tests.orchestrator.store.input_samples import image_file, noise_file


@pytest.fixture
def world(tmp_path):
    outputs = OutputStore(tmp_path / "outputs")
    history = History(tmp_path / "outputs" / "history.db", outputs)
    yield InputResolver(InputStore(tmp_path / "state" / "inputs"), history), outputs, history
    history.close()


def _in_history(outputs: OutputStore, history: History, data: bytes) -> tuple[str, str]:
    relpath = outputs.save(data, "png", job_id="j")
    image_id = history.add(relpath=relpath, job_id="j", params=sample_params(), width=64, height=64, fmt="png")
    return image_id, relpath


def test_every_way_of_giving_a_file_names_the_same_stored_file(world) -> None:
    resolver, outputs, history = world
    data = noise_file("PNG", size=(64, 64))
    sha = hashlib.sha256(data).hexdigest()
    plain = base64.b64encode(data).decode()
    assert "+" in plain or "/" in plain  # so the URL-safe text below differs from the standard one
    urlsafe = base64.urlsafe_b64encode(data).decode().rstrip("=")
    wrapped = "\n".join(urlsafe[i:i + 76] for i in range(0, len(urlsafe), 76))  # MIME-style lines
    image_id, _ = _in_history(outputs, history, data)
    given = {
        "data URI": f"data:image/png;base64,{plain}",
        "base64": plain,
        "URL-safe, unpadded, in lines": wrapped,
        "history": ImageSource(history_id=image_id),
    }
    for how, ref in given.items():
        found = resolver.resolve(ref, "$.uov_input_image")
        assert (found.sha256, found.width, found.height, found.format) == (sha, 64, 64, "png"), how
        assert found.history_id == (image_id if how == "history" else None), how
    assert resolver.resolve(ImageSource(upload_id=sha), "$.uov_input_image").sha256 == sha
    assert resolver.store.read(sha) == data


def test_the_request_names_each_image_by_upload_id(world) -> None:
    resolver, _, _ = world
    image, mask = image_file("JPEG", (80, 40)), image_file("PNG", (80, 40), color=(255, 255, 255))
    request = GenerateRequest(prompt="a fox", inpaint_input_image=base64.b64encode(image).decode(),
                              inpaint_mask_image="data:image/png;base64," + base64.b64encode(mask).decode())
    resolved_request, found = resolver.resolve_inputs(request)
    assert set(found) == {"inpaint_input_image", "inpaint_mask_image"}
    assert found["inpaint_input_image"].sha256 == hashlib.sha256(image).hexdigest()
    assert found["inpaint_mask_image"].sha256 == hashlib.sha256(mask).hexdigest()
    assert resolved_request == msgspec.structs.replace(
        request, inpaint_input_image=ImageSource(upload_id=hashlib.sha256(image).hexdigest()),
        inpaint_mask_image=ImageSource(upload_id=hashlib.sha256(mask).hexdigest()))
    plain = GenerateRequest(prompt="no images")
    assert resolver.resolve_inputs(plain) == (plain, {})


def _refused(resolver: InputResolver, ref, field: str = "$.inpaint_mask_image") -> str:
    with pytest.raises(InputRefused) as caught:
        resolver.resolve(ref, field)
    assert caught.value.field == field
    return caught.value.message


def test_unknown_ids_are_refused_naming_the_field(world, tmp_path) -> None:
    resolver, outputs, history = world
    assert "no upload" in _refused(resolver, ImageSource(upload_id="ab" * 32))
    assert "no history image with id 'f00d'" in _refused(resolver, ImageSource(history_id="f00d"))
    image_id, relpath = _in_history(outputs, history, image_file("PNG"))
    (tmp_path / "outputs" / relpath).unlink()
    assert "gone" in _refused(resolver, ImageSource(history_id=image_id))


def test_bad_inline_text_is_refused_naming_the_field(world) -> None:
    resolver, _, _ = world
    png = base64.b64encode(image_file("PNG")).decode()
    assert "not base64" in _refused(resolver, "this is not base64!")
    assert "URLs are not fetched" in _refused(resolver, "https://example.org/fox.png")
    assert "not base64" in _refused(resolver, png[:-3] + "=")  # 4n+1 characters: no byte count gives that
    assert "not an image" in _refused(resolver, "data:text/plain;base64," + png)
    assert "must carry base64" in _refused(resolver, "data:image/png,%89PNG")
    assert "says image/jpeg" in _refused(resolver, "data:image/jpeg;base64," + png)
    assert "GIF" in _refused(resolver, base64.b64encode(image_file("GIF")).decode())
    assert not resolver.store.root.exists() or not any(resolver.store.root.iterdir())  # nothing kept


def test_too_long_text_is_refused_before_decoding() -> None:
    with pytest.raises(InputRefused) as caught:
        decode_inline("A" * (MAX_BASE64_CHARS + 4), "$.uov_input_image")
    assert caught.value.field == "$.uov_input_image" and "64 MiB" in caught.value.message
    data, declared = decode_inline(" QUJD\nRA== ", "f")  # whitespace and padding are ignored
    assert (data, declared) == (b"ABCD", None)
