"""POST /v1/uploads and GET /v1/uploads/{id}: input images kept by sha256, every check a 400 naming the part
(`file`), the body (`$`) or `Content-Type`; the image routes' larger body limit."""

from __future__ import annotations

import base64
import hashlib

import pytest
from starlette.testclient import TestClient

from bench.harness.settings import SMALL, server_settings
from contract.image_input import MAX_INPUT_BYTES
from orchestrator.app import create_app
from tests.orchestrator.store.input_samples import image_file, noise_file, png_claiming, truncated


def _client(tmp_path, **settings) -> TestClient:
    # no lifespan: no workers are spawned; a Host the server answers to (TestClient sends "testserver")
    return TestClient(create_app(server_settings(tmp_path, **settings)), base_url="http://127.0.0.1:8888")


@pytest.fixture
def client(tmp_path) -> TestClient:
    return _client(tmp_path)


@pytest.mark.parametrize(("fmt", "media"), [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp")])
def test_an_upload_round_trips(client, fmt, media) -> None:
    data = image_file(fmt, size=(40, 24))
    r = client.post("/v1/uploads", content=data, headers={"Content-Type": media})
    sha = hashlib.sha256(data).hexdigest()
    assert r.status_code == 201, r.text
    assert r.json() == {"upload_id": sha, "width": 40, "height": 24, "format": media.split("/")[1],
                        "bytes": len(data)}
    assert r.headers["location"] == f"/v1/uploads/{sha}"
    got = client.get(f"/v1/uploads/{sha}")
    assert got.status_code == 200 and got.content == data and got.headers["content-type"] == media
    # The same file as a multipart form is the same upload.
    again = client.post("/v1/uploads", files={"file": (f"x.{fmt.lower()}", data, media)})
    assert again.status_code == 201 and again.json()["upload_id"] == sha


def test_unknown_uploads_are_404(client) -> None:
    for ident in ("0" * 64, "nope", "0" * 64 + ".png"):
        r = client.get(f"/v1/uploads/{ident}")
        assert r.status_code == 404 and r.json()["error"]["field"] == "id", ident
    assert client.get("/v1/uploads/..%2F..%2Fjobs.db").status_code == 404


def _error(r) -> tuple[int, str, str]:
    return r.status_code, r.json()["error"]["field"], r.json()["error"]["message"]


def test_every_check_is_a_400_naming_where_the_file_was(client) -> None:
    raw = {"Content-Type": "image/png"}
    cases = [
        (client.post("/v1/uploads", content=png_claiming(50000, 50000), headers=raw), "$", "too large"),
        (client.post("/v1/uploads", content=truncated(noise_file("PNG")), headers=raw), "$", "does not decode"),
        (client.post("/v1/uploads", content=b"\x89PNG but not really", headers=raw), "$", "not an image"),
        (client.post("/v1/uploads", files={"file": ("a.gif", image_file("GIF"), "image/gif")}), "file", "GIF"),
        (client.post("/v1/uploads", files={"file": ("a.jpg", truncated(noise_file("JPEG")), "image/jpeg")}),
         "file", "does not decode"),
        (client.post("/v1/uploads", content=image_file("PNG"), headers={"Content-Type": "image/jpeg"}),
         "Content-Type", "PNG file"),
        (client.post("/v1/uploads", files={"picture": ("a.png", image_file("PNG"), "image/png")}), "picture",
         "unknown part"),
        (client.post("/v1/uploads", data={"file": "iVBORw0KGgo="}, files={"other": ("a", b"x", "image/png")}),
         "other", "unknown part"),
        (client.post("/v1/uploads", files={"file": (None, "not a file")}), "file", "must be a file"),
    ]
    for r, field, words in cases:
        status, named, message = _error(r)
        assert (status, named) == (400, field) and words in message, (field, message)


def test_a_file_over_the_byte_limit_is_refused(client) -> None:
    r = client.post("/v1/uploads", content=image_file("PNG") + b"\0" * MAX_INPUT_BYTES,
                    headers={"Content-Type": "image/png"})
    status, field, message = _error(r)
    assert (status, field) == (400, "$") and "64 MiB" in message


def test_other_body_types_are_refused(client) -> None:
    for media in ("image/gif", "text/plain", "application/x-www-form-urlencoded"):
        r = client.post("/v1/uploads", content=image_file("GIF"), headers={"Content-Type": media})
        assert r.status_code == 415 and r.json()["error"]["field"] == "Content-Type", media
    r = client.post("/v1/uploads", json={"file": "x"})
    assert r.status_code == 415 and "image/png" in r.json()["error"]["message"]
    # Only the image routes take image files: anywhere else a picture body is still not JSON.
    r = client.post("/v1/history/delete", content=image_file("PNG"), headers={"Content-Type": "image/png"})
    assert r.status_code == 415


def test_only_the_image_routes_take_large_bodies(tmp_path) -> None:
    client = _client(tmp_path, max_body_bytes=4096)
    big = noise_file("PNG", size=(64, 64))  # ~12 KB: three times max_body_bytes
    assert len(big) > 3 * 4096
    assert client.post("/v1/uploads", content=big, headers={"Content-Type": "image/png"}).status_code == 201
    inline = {**SMALL, "uov_method": "Vary (Subtle)", "uov_input_image": base64.b64encode(big).decode()}
    assert client.post("/v1/jobs", json=inline).status_code == 202
    r = client.post("/v1/history/delete", json={"ids": ["x" * 60] * 100})
    assert r.status_code == 413


def test_the_openapi_document_lists_the_routes(client) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "201" in paths["/v1/uploads"]["post"]["responses"]
    assert "image/png" in paths["/v1/uploads"]["post"]["requestBody"]["content"]
    assert "multipart/form-data" in paths["/v1/jobs"]["post"]["requestBody"]["content"]
    assert paths["/v1/uploads/{id}"]["get"]["responses"]["200"]["content"]["image/png"]


def test_a_multipart_form_from_another_website_is_refused(client) -> None:
    """A multipart form needs no CORS preflight: the Origin check is what stops another website's page."""
    png = {"file": ("a.png", image_file("PNG"), "image/png")}
    for path, files in (("/v1/uploads", png), ("/v1/jobs", {"request": (None, "{}"), "uov_input_image": png["file"]})):
        r = client.post(path, files=files, headers={"Origin": "https://attacker.example"})
        assert r.status_code == 403 and r.json()["error"]["field"] == "Origin", path
    assert not client.app.state.services.inputs.root.exists()  # nothing was kept
