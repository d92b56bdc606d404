"""With API keys on, every route of the app's router answers 401 without a key and works with one —
events and WebSockets included. Open: /health, and the web page's static files (they hold no data)."""

import re

import httpx
import pytest
from starlette.routing import Route, WebSocketRoute
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from bench.harness.settings import SMALL
from bench.scenarios.route_fuzz import fuzz_settings
from orchestrator.api.routes.ui import ASSETS
from orchestrator.app import OPEN_PATHS
from tests.orchestrator.server_thread import ServerThread

KEY = "k-7f3a"
GOOD = {"Authorization": f"Bearer {KEY}"}


def _fill(path: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: values[m.group(1)], path)


def _call(client: httpx.Client, method: str, url: str, headers: dict) -> int:
    body = b"{}" if method in ("POST", "PATCH") else None
    headers = {**headers, "content-type": "application/json"} if body else headers
    with client.stream(method, url, headers=headers, content=body) as r:
        if not r.headers.get("content-type", "").startswith("text/event-stream"):
            r.read()
    client.cookies.clear()  # POST /v1/session sets the key cookie: the next call must not carry it
    return r.status_code


def test_every_route_needs_the_key(tmp_path) -> None:
    settings = fuzz_settings(tmp_path, api_keys=[KEY])
    with ServerThread(settings) as srv, httpx.Client(base_url=srv.url, timeout=30) as client:
        client.post("/v1/jobs?id=j&wait=true", json=SMALL, headers=GOOD).raise_for_status()
        item = client.get("/v1/history", headers=GOOD).json()["items"][0]
        values = {"id": "j", "task_id": "j", "name": "default", "path": item["path"]}
        history_values = {**values, "id": item["id"]}
        checked = []
        for route in srv.app.routes:
            if isinstance(route, WebSocketRoute):
                with pytest.raises(InvalidStatus):
                    connect(f"{srv.url.replace('http', 'ws')}{route.path}", open_timeout=10).close()
                with connect(f"{srv.url.replace('http', 'ws')}{route.path}", additional_headers=GOOD,
                             origin="http://localhost", open_timeout=10):
                    checked.append(("WS", route.path))
                continue
            assert isinstance(route, Route), route
            for method in sorted(route.methods or ()):
                filled = _fill(route.path, history_values if route.path.startswith("/v1/history/{") else values)
                if route.path == "/ui/{name}":
                    filled = f"/ui/{next(iter(ASSETS))}"
                if method == "DELETE" or filled == "/stop":
                    continue  # destructive: their 401 is checked below, without a key they never ran
                without = _call(client, method, filled, {})
                if route.path in OPEN_PATHS or filled in OPEN_PATHS:
                    assert without < 400, (method, filled, without)
                    continue
                assert without == 401, (method, filled, without)
                with_key = _call(client, method, filled, GOOD)
                assert with_key != 401 and with_key < 500, (method, filled, with_key)
                checked.append((method, filled))
        # An image route takes the key in its URL (an <img> tag can send nothing else).
        assert client.get(f"/v1/history/{item['id']}/file?api_key={KEY}").status_code == 200
        assert client.get(f"{item['url']}?api_key={KEY}").status_code == 200
        for method, path in (("DELETE", f"/v1/history/{item['id']}"), ("POST", "/stop")):
            assert _call(client, method, path, {}) == 401
            assert _call(client, method, path, GOOD) == 200
        assert len(checked) >= 40
        # In a URL the key opens image routes only (<img> tags); elsewhere pages use the cookie.
        assert client.get(f"/v1/jobs?api_key={KEY}").status_code == 401
        assert client.get("/v1/jobs?api_key=wrong").status_code == 401
        assert client.get("/v1/jobs", headers={"Authorization": "Bearer"}).status_code == 401
        assert client.get("/v1/jobs", headers={"Authorization": f"Basic {KEY}"}).status_code == 401
        cookie = client.get(f"/api-key-cookie?api_key={KEY}").cookies
        assert httpx.get(f"{srv.url}/v1/jobs", cookies=cookie).status_code == 200
        client.cookies.clear()
        cookie = client.post("/v1/session", headers=GOOD).cookies  # the web page's way
        assert httpx.get(f"{srv.url}/v1/jobs", cookies=cookie).status_code == 200
        # What stays open is the page and its static files only: /health and the web UI's assets.
        assert OPEN_PATHS == {"/health", "/", *(f"/ui/{name}" for name in ASSETS)}


def test_settings_that_choose_code_cannot_be_edited_over_http(tmp_path) -> None:
    with ServerThread(fuzz_settings(tmp_path)) as srv, srv.client() as client:
        shown = client.get("/config/editor").json()
        for name in ("worker_cmd", "worker_kernel", "worker_env", "allow_unsafe_pickles", "api_keys"):
            assert name not in str(shown), name
            r = client.post("/config/editor", json={"values": {name: "/tmp/elsewhere.py:Kernel"}})
            assert r.status_code == 400 and r.json()["field"] == name, (name, r.text)
        assert not (tmp_path / "remgo.toml").exists()
