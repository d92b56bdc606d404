"""Another website in the user's browser, written as the attack: it may not change state, open a socket,
or reach the server under a rebinding name (docs/security.md). Routes come from the app's own route
table, so a route added later is covered without touching this file."""

from __future__ import annotations

import re

import httpx
import pytest
import websockets
from starlette.routing import Route, WebSocketRoute

from bench.harness.in_process import running
from bench.harness.settings import SMALL, server_settings

pytestmark = pytest.mark.anyio

EVIL = "https://evil.example"
STATE_CHANGING = ("POST", "PUT", "PATCH", "DELETE")


def _routes(app) -> tuple[list[tuple[str, str]], list[str]]:
    http, sockets = [], []
    for route in app.routes:
        path = re.sub(r"\{(\w+)(:\w+)?\}", "x", route.path)
        if isinstance(route, WebSocketRoute):
            sockets.append(path)
        elif isinstance(route, Route):
            http += [(method, path) for method in sorted(route.methods or ()) if method in STATE_CHANGING]
    return http, sockets


async def test_a_foreign_origin_changes_nothing_and_opens_no_socket(tmp_path) -> None:
    settings = server_settings(tmp_path, config_file=str(tmp_path / "remgo.toml"), webhook_secret="s")
    async with running(settings, ready=False) as srv:
        services = srv.services
        http, sockets = _routes(srv.app)
        assert ("POST", "/v1/jobs") in http and ("POST", "/config/editor") in http and "/v1/ws" in sockets
        for method, path in http:
            # A "simple" request: no preflight, the body whatever the page likes.
            r = await srv.client.request(method, path, content=b'{"values": {"host": "0.0.0.0"}}',
                                         headers={"Origin": EVIL, "Content-Type": "text/plain"})
            assert r.status_code == 403, (method, path, r.status_code)
            assert r.json()["error"]["field"] == "Origin" and EVIL in r.json()["error"]["message"]
        for path in sockets:
            with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
                async with websockets.connect(f"{srv.ws_url}{path}", origin=EVIL):
                    pass
            assert refused.value.response.status_code == 403, path
        assert not (tmp_path / "remgo.toml").exists()  # the settings file was never written
        assert (await srv.client.get("/v1/jobs")).json()["jobs"] == []
        assert services.jobs.queue_depth() == 0


async def test_the_pages_own_origin_localhost_and_scripts_pass(tmp_path) -> None:
    async with running(server_settings(tmp_path), ready=False) as srv:
        own = srv.url
        for origin in (own, "http://localhost:5173", "http://127.0.0.1:3000", None):
            headers = {"Origin": origin} if origin else {}
            r = await srv.client.post("/v1/jobs", json=SMALL, headers=headers)
            assert r.status_code == 202, (origin, r.text)
        async with websockets.connect(f"{srv.ws_url}/v1/ws", origin="http://localhost:5173"):
            pass


async def test_configured_origins_replace_the_localhost_default(tmp_path) -> None:
    async with running(server_settings(tmp_path, cors_origins=["https://studio.example"]), ready=False) as srv:
        r = await srv.client.post("/v1/jobs", json=SMALL, headers={"Origin": "https://studio.example"})
        assert r.status_code == 202
        assert (await srv.client.post("/v1/jobs", json=SMALL, headers={"Origin": srv.url})).status_code == 202
        for origin in (EVIL, "http://localhost:5173"):  # as for CORS: a page may send only what it may read
            assert (await srv.client.post("/v1/jobs", json=SMALL, headers={"Origin": origin})).status_code == 403


async def test_json_routes_refuse_other_bodies(tmp_path) -> None:
    async with running(server_settings(tmp_path), ready=False) as srv:
        for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
            r = await srv.client.post("/v1/history/delete", content=b'{"ids": []}',
                                      headers={"Content-Type": content_type})
            assert r.status_code == 415 and r.json()["error"]["field"] == "Content-Type", content_type
        for content_type in ("text/plain", "application/x-www-form-urlencoded"):
            r = await srv.client.post("/v1/jobs", content=b'{"prompt": "x"}', headers={"Content-Type": content_type})
            assert r.status_code == 415 and r.json()["error"]["field"] == "Content-Type", content_type
        # Jobs take multipart (a request part and image files): JSON dressed as multipart is no such body.
        r = await srv.client.post("/v1/jobs", content=b'{"prompt": "x"}',
                                  headers={"Content-Type": "multipart/form-data; boundary=x"})
        assert r.status_code == 400 and r.json()["error"]["field"] == "$"
        r = await srv.client.post("/v1/jobs", content=b'{"prompt": "x"}',
                                  headers={"Content-Type": "application/json; charset=utf-8"})
        assert r.status_code == 202


async def test_a_rebinding_host_is_refused(tmp_path) -> None:
    async with running(server_settings(tmp_path, allowed_hosts=["remgo.lan"]), ready=False) as srv:
        port = srv.url.rsplit(":", 1)[1]
        async with httpx.AsyncClient(base_url=srv.url) as client:
            for host in ("attacker.example", f"attacker.example:{port}", "127.0.0.1.nip.io"):
                r = await client.get("/v1/jobs", headers={"Host": host})
                assert r.status_code == 400 and r.json()["error"]["field"] == "Host", host
            for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}", "remgo.lan"):
                assert (await client.get("/v1/jobs", headers={"Host": host})).status_code == 200, host
        with pytest.raises(websockets.exceptions.InvalidStatus):
            async with websockets.connect(f"{srv.ws_url}/v1/ws", additional_headers={"Host": "attacker.example"}):
                pass
