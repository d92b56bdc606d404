"""GET /outputs/{path} and /thumbs/{path}: images inside outputs/ only; everything else is a 404."""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace

import anyio
import pytest
from PIL import Image
from starlette.applications import Starlette
from starlette.testclient import TestClient

from orchestrator.api.routes import outputs as output_routes
from orchestrator.store.outputs import OutputStore
from tests.orchestrator.store.history_samples import image_bytes


@pytest.fixture
def setup(tmp_path: Path):
    store = OutputStore(tmp_path / "outputs")
    app = Starlette(routes=output_routes.routes())
    app.state.services = SimpleNamespace(outputs=store)
    rel = store.save(image_bytes("png", size=(640, 320)), "png", job_id="j")
    (store.root / "history.db").write_bytes(b"SQLite format 3\x00")
    secret = tmp_path / "secret.png"
    secret.write_bytes(image_bytes("png"))
    (store.root / "link.png").symlink_to(secret)
    with TestClient(app) as client:
        yield client, store, rel


def raw_get(client: TestClient, raw_path: bytes) -> int:
    """Send a path exactly as given (no client-side normalisation of dots or escapes)."""
    from urllib.parse import unquote_to_bytes

    scope_path = unquote_to_bytes(raw_path).decode("utf-8", "surrogateescape")
    sent: list[dict] = []
    requested = False

    async def receive():
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        while not sent or sent[-1].get("more_body", False) or sent[-1]["type"] != "http.response.body":
            await anyio.sleep(0.001)
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "http_version": "1.1", "method": "GET", "scheme": "http", "path": scope_path,
             "raw_path": raw_path, "root_path": "", "query_string": b"", "headers": [],
             "server": ("test", 80), "client": ("test", 1), "app": client.app}
    client.portal.call(client.app, scope, receive, send)
    return sent[0]["status"]


def test_serves_a_saved_image(setup) -> None:
    client, store, rel = setup
    response = client.get(store.url_for(rel))
    assert response.status_code == 200
    assert response.content == (store.root / rel).read_bytes()
    assert response.headers["content-type"] == "image/png"
    assert raw_get(client, store.url_for(rel).encode()) == 200  # the raw sender reaches real files
    assert raw_get(client, store.thumb_url_for(rel).encode()) == 200


@pytest.mark.parametrize(
    "raw",
    [
        b"/outputs/../secret.png",
        b"/outputs/%2e%2e/secret.png",
        b"/outputs/%2E%2E%2Fsecret.png",
        b"/outputs/..%5csecret.png",
        b"/outputs/%252e%252e/secret.png",
        b"/outputs//etc/passwd",
        b"/outputs/%2Fetc%2Fpasswd",
        b"/outputs/history.db",
        b"/outputs/history.db-wal",
        b"/outputs/link.png",
        b"/outputs/",
        b"/outputs/2099-01-01",
        b"/outputs/.thumbs",
        b"/outputs/nothing.png",
        b"/outputs/a%00.png",
        b"/thumbs/../secret.png",
        b"/thumbs/%2e%2e/secret.png",
        b"/thumbs/history.db",
        b"/thumbs/link.png",
    ],
)
def test_everything_outside_the_images_is_not_found(setup, raw: bytes) -> None:
    client, _, _ = setup
    assert raw_get(client, raw) == 404


def test_directory_of_a_saved_image_is_not_listed(setup) -> None:
    client, _, rel = setup
    assert client.get("/outputs/" + rel.split("/")[0]).status_code == 404
    assert client.get("/outputs/" + rel.split("/")[0] + "/").status_code == 404


def test_thumbnail_is_small_webp_and_cached(setup) -> None:
    client, store, rel = setup
    response = client.get(store.thumb_url_for(rel))
    assert response.status_code == 200 and response.headers["content-type"] == "image/webp"
    with Image.open(io.BytesIO(response.content)) as thumb:
        assert thumb.format == "WEBP" and thumb.size == (256, 128)
    cached = store.thumbnails.cache_path(rel)
    stamp = cached.stat().st_mtime_ns
    assert client.get(store.thumb_url_for(rel)).content == response.content
    assert cached.stat().st_mtime_ns == stamp  # served from the cache, not made again
    # The cache itself is never served as an output.
    assert client.get("/outputs/.thumbs/" + rel + ".webp").status_code == 404


def test_unknown_query_parameter_is_refused(setup) -> None:
    client, store, rel = setup
    response = client.get(store.url_for(rel) + "?size=big")
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "size"


def test_api_key_query_is_left_to_the_auth_layer(setup) -> None:
    # <img src> cannot send a header: the key may ride in the query, and the route must not refuse it.
    client, store, rel = setup
    assert client.get(store.url_for(rel) + "?api_key=k").status_code == 200
    assert client.get(store.thumb_url_for(rel) + "?api_key=k").status_code == 200
