"""The web page's routes: `/`, its files under `/ui/`, `/v1/ui/config`, and the page staying open with keys."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

from bench.harness.settings import pool_settings
from contract.request import GenerateRequest
from orchestrator.api.routes.ui import ASSETS, PUBLIC_PATHS, UI_DIR
from orchestrator.app import create_app


def _client(tmp_path, **settings) -> TestClient:
    (tmp_path / "catalog").mkdir(exist_ok=True)
    # no lifespan: no workers are spawned; a Host the server answers to (TestClient sends "testserver")
    return TestClient(create_app(pool_settings(tmp_path, **settings)), base_url="http://127.0.0.1:8888")


def test_the_page_and_its_files(tmp_path) -> None:
    client = _client(tmp_path)
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["cache-control"] == "no-cache" and "etag" in page.headers
    # Everything the page loads is served, with the right type, and nothing from elsewhere (no CDN).
    loaded = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert loaded and all(url.startswith("/ui/") for url in loaded), loaded
    for url in loaded:
        assert client.get(url).status_code == 200, url
    script = client.get("/ui/app.js")
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    imports = re.findall(r'from "\./([\w.]+)"', "".join(p.read_text() for p in UI_DIR.glob("*.js")))
    assert imports and set(imports) <= set(ASSETS)
    assert client.get("/ui/style.css").headers["content-type"] == "text/css; charset=utf-8"
    assert client.head("/ui/app.js").status_code == 200


def test_only_the_shipped_files_are_served(tmp_path) -> None:
    client = _client(tmp_path)
    for path in ("/ui/nope.js", "/ui/index.html", "/ui/..%2fapp.py", "/ui/%2e%2e%2froutes%2fui.py", "/ui/"):
        r = client.get(path)
        assert r.status_code == 404, path
        if r.headers["content-type"] == "application/json":
            assert r.json()["error"]["message"]


def test_every_request_field_has_a_control_in_the_page() -> None:
    html = (UI_DIR / "index.html").read_text()
    named = set(re.findall(r'name="(\w+)"', html))
    with_place = set(re.findall(r'data-field="(\w+)"', html))
    fields = set(GenerateRequest.__struct_fields__)
    assert fields - {"loras", "style_selections"} <= named, sorted(fields - named)
    assert {"loras", "style_selections"} <= with_place  # the LoRA slots and the style picker live there


def test_ui_config(tmp_path) -> None:
    body = _client(tmp_path, default_preset="anime", preview_enabled=False).get("/v1/ui/config").json()
    assert body == {"default_preset": "anime", "previews": False, "api_keys": False}


def test_with_keys_the_page_is_open_and_the_api_is_not(tmp_path) -> None:
    client = _client(tmp_path, api_keys=["k1"])
    assert {"/", "/ui/app.js", "/ui/style.css"} <= PUBLIC_PATHS
    for path in PUBLIC_PATHS:
        assert client.get(path).status_code == 200, path
    assert client.get("/v1/ui/config").status_code == 401
    assert client.get("/v1/catalog").status_code == 401
    assert client.get("/ui/nope.js").status_code == 401  # only the shipped files are open
    config = client.get("/v1/ui/config", headers={"Authorization": "Bearer k1"}).json()
    assert config["api_keys"] is True
    assert client.get("/v1/ui/config?api_key=k1").status_code == 401  # a key in a URL: image routes only
    session = client.post("/v1/session", headers={"Authorization": "Bearer k1"})  # what the page does
    assert session.status_code == 200 and "HttpOnly" in session.headers["set-cookie"]
    assert "SameSite=strict" in session.headers["set-cookie"]
    assert client.get("/v1/ui/config").status_code == 200  # the cookie its EventSource sends by itself
