"""Security defaults: API keys (header or query), body size limit, CORS only when configured."""

import json

import pytest
import websockets

from bench.harness.in_process import running
from bench.harness.settings import SMALL, server_settings

pytestmark = pytest.mark.anyio


async def test_api_keys_guard_every_route_but_health(tmp_path) -> None:
    async with running(server_settings(tmp_path, api_keys=["k-one", "k-two"]), ready=False) as srv:
        c = srv.client
        assert (await c.get("/health")).status_code == 200
        for method, path in (("GET", "/v1/jobs"), ("POST", "/v1/jobs"), ("GET", "/v1/workers"),
                             ("GET", "/metrics"), ("GET", "/openapi.json"), ("GET", "/docs"),
                             ("GET", "/v1/catalog"), ("GET", "/v1/events")):
            r = await c.request(method, path)
            assert r.status_code == 401, (method, path)
            assert r.json()["error"]["field"] == "Authorization" and r.headers["www-authenticate"] == "Bearer"
        assert (await c.get("/v1/jobs", headers={"Authorization": "Bearer wrong"})).status_code == 401
        assert (await c.get("/v1/jobs", headers={"Authorization": "Bearer k-two"})).status_code == 200
        assert (await c.get("/v1/jobs?api_key=k-one")).status_code == 401  # in a URL: image routes only
        assert (await c.get("/outputs/none.png?api_key=k-one")).status_code == 404
        assert (await c.get("/outputs/none.png?api_key=wrong")).status_code == 401
        r = await c.post("/v1/jobs", json=SMALL, headers={"Authorization": "Bearer k-one"})
        assert r.status_code == 202
        with pytest.raises(websockets.exceptions.InvalidStatus):
            async with websockets.connect(f"{srv.ws_url}/v1/ws"):
                pass
        async with websockets.connect(f"{srv.ws_url}/v1/ws",
                                      additional_headers={"Authorization": "Bearer k-one"}) as ws:
            await ws.send(json.dumps({"op": "subscribe", "job_id": "*"}))
            assert json.loads(await ws.recv())["type"] == "subscribed"
        spec = (await c.get("/openapi.json", headers={"Authorization": "Bearer k-one"})).json()
        assert spec["security"] == [{"bearer": []}] and spec["paths"]["/health"]["get"]["security"] == []


async def test_without_keys_everything_is_open(tmp_path) -> None:
    async with running(server_settings(tmp_path), ready=False) as srv:
        assert (await srv.client.get("/v1/jobs")).status_code == 200
        assert "security" not in (await srv.client.get("/openapi.json")).json()


async def test_body_limit(tmp_path) -> None:
    async with running(server_settings(tmp_path, max_body_bytes=2048), ready=False) as srv:
        # RemGo's /generate keeps max_body_bytes; /v1/jobs and /v1/uploads take input images inline.
        r = await srv.client.post("/generate", json={**SMALL, "prompt": "x" * 4000})
        assert r.status_code == 413 and "2048" in r.json()["error"]["message"]

        async def chunks():
            for _ in range(10):
                yield b" " * 500

        r = await srv.client.post("/generate", content=chunks(), headers={"content-type": "application/json"})
        assert r.status_code == 413
        assert (await srv.client.post("/v1/jobs", json={**SMALL, "prompt": "x" * 4000})).status_code == 202


async def test_cors_only_when_configured(tmp_path) -> None:
    preflight = {"Origin": "http://ui.test", "Access-Control-Request-Method": "POST"}
    async with running(server_settings(tmp_path, cors_origins=["http://ui.test"], api_keys=["k"]),
                       ready=False) as srv:
        r = await srv.client.options("/v1/jobs", headers=preflight)
        assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "http://ui.test"
        r = await srv.client.get("/health", headers={"Origin": "http://ui.test"})
        assert r.headers["access-control-allow-origin"] == "http://ui.test"
    async with running(server_settings(tmp_path), ready=False) as srv:
        r = await srv.client.get("/health", headers={"Origin": "http://ui.test"})
        assert "access-control-allow-origin" not in r.headers


async def test_webhooks_to_this_machine_or_private_networks_are_refused_unless_allowed(tmp_path) -> None:
    async with running(server_settings(tmp_path, webhook_secret="s"), ready=False) as srv:
        for target in ("http://127.0.0.1:9/h", "http://localhost/h", "http://169.254.169.254/latest/meta-data",
                       "http://10.0.0.5/h", "http://[::1]/h"):
            r = await srv.client.post("/v1/jobs", params={"webhook_url": target}, json=SMALL)
            assert r.status_code == 422 and r.json()["error"]["field"] == "webhook_url", target
            assert "webhook_allow_private" in r.json()["error"]["message"]
    async with running(server_settings(tmp_path / "b", webhook_secret="s", webhook_allow_private=True),
                       ready=False) as srv:
        r = await srv.client.post("/v1/jobs", params={"webhook_url": "http://127.0.0.1:9/h"}, json=SMALL)
        assert r.status_code == 202
