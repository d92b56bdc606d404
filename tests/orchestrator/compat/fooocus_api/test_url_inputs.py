"""Image URLs as input (Fooocus-API fetches any): only from allowed hosts, never private addresses, no
redirects, at most the input size limit; what is fetched is stored like any input image."""

from __future__ import annotations

import hashlib
import io

import httpx
import pytest
from PIL import Image

from contract.image_input import MAX_INPUT_BYTES
from orchestrator.compat.fooocus_api.errors import Refused
from orchestrator.compat.fooocus_api.url_inputs import fetch, host_allowed, replace_urls
from orchestrator.jobs.webhooks import url_problem
from orchestrator.store.inputs import InputStore

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend():
    return "asyncio"


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 24), "green").save(out, "PNG")
    return out.getvalue()


async def _public(url: str, allow_private: bool) -> str | None:
    return None  # stands for a host that resolves to a public address (no DNS in tests)


def _serving(status: int, content: bytes, headers: dict | None = None) -> httpx.MockTransport:
    return httpx.MockTransport(lambda request: httpx.Response(status, content=content, headers=headers))


def test_host_patterns() -> None:
    assert host_allowed("img.example.org", ["img.example.org"])
    assert host_allowed("a.cdn.example.org", ["*.example.org"]) and not host_allowed("example.org.evil", ["*.example.org"])
    assert not host_allowed("example.com", [])


async def test_an_allowed_url_is_fetched_and_stored_as_an_upload(tmp_path) -> None:
    photo = _png()
    document = {"input_image": "https://img.example.org/a.png", "prompt": "x"}
    store = InputStore(tmp_path / "inputs")
    assert await replace_urls(document, ("input_image", "input_mask"), ["img.example.org"], store, check=_public,
                              transport=_serving(200, photo))
    assert document == {"input_image": {"upload_id": hashlib.sha256(photo).hexdigest()}, "prompt": "x"}
    assert store.has(hashlib.sha256(photo).hexdigest())


async def test_what_is_not_fetched_is_refused_with_the_reason() -> None:
    url = "https://img.example.org/a.png"
    with pytest.raises(Refused, match="fooocus_api_url_hosts") as refused:
        await fetch(url, "$.input_image", [], check=_public, transport=_serving(200, _png()))
    assert refused.value.field == "$.input_image"
    with pytest.raises(Refused, match="HTTP 302"):
        await fetch(url, "$.input_image", ["img.example.org"], check=_public,
                    transport=_serving(302, b"", {"location": "http://127.0.0.1/secret"}))
    with pytest.raises(Refused, match="larger than"):
        await fetch(url, "$.input_image", ["img.example.org"], check=_public,
                    transport=_serving(200, b"x" * (MAX_INPUT_BYTES + 1)))
    # The real SSRF rule: an allowed name that is this machine is still not fetched.
    with pytest.raises(Refused, match="private network"):
        await fetch("http://localhost:1/a.png", "$.input_image", ["localhost"], check=url_problem)


async def test_a_fetched_file_that_is_no_image_is_refused(tmp_path) -> None:
    document = {"input_mask": "https://img.example.org/m.png"}
    with pytest.raises(Refused) as refused:
        await replace_urls(document, ("input_mask",), ["img.example.org"], InputStore(tmp_path / "in"),
                           check=_public, transport=_serving(200, b"<html>not an image</html>"))
    assert refused.value.field == "$.input_mask" and "not an image" in refused.value.message
