"""The compatibility routes' switch, their CORS origins and API keys, and where the settings file is."""

import pytest
import websockets

from bench.harness.in_process import running
from orchestrator.settings import SettingsError, load_settings
from tests.orchestrator.compat.remgo.frontend import compat_settings

pytestmark = pytest.mark.anyio
PREFLIGHT = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}


def test_switch_env_name_and_settings_file(tmp_path, monkeypatch) -> None:
    assert load_settings(env={}).remgo_compat is True
    assert load_settings(env={"REMGO_COMPAT": "false"}).remgo_compat is False
    assert load_settings(env={"REMGO_COMPAT": "0"}).remgo_compat is False
    with pytest.raises(SettingsError, match="REMGO_COMPAT"):
        load_settings(env={"REMGO_COMPAT": "maybe"})
    cfg = tmp_path / "mine.toml"
    cfg.write_text("remgo_compat = false\n")
    assert load_settings(cfg, env={}).config_file == str(cfg)
    cfg.write_text('config_file = "/etc/x.toml"\n')
    with pytest.raises(SettingsError, match="config_file"):  # derived, never read from a source
        load_settings(cfg, env={})
    monkeypatch.chdir(tmp_path)
    assert load_settings(env={}).config_file == str(tmp_path / "remgo.toml")  # where the editor writes
    (tmp_path / "remgo.toml").write_text("port = 9123\n")
    assert load_settings(env={}).port == 9123  # read when it exists, with no --config given


async def test_switched_off_the_routes_are_gone(tmp_path) -> None:
    async with running(compat_settings(tmp_path, remgo_compat=False), ready=False) as srv:
        for path in ("/settings", "/history", "/gpus", "/status/x", "/presets/default", "/config/editor"):
            assert (await srv.client.get(path)).status_code == 404, path
        assert (await srv.client.post("/generate", json={})).status_code == 404
        with pytest.raises(websockets.InvalidStatus):
            async with websockets.connect(f"{srv.ws_url}/ws"):
                pass
        r = await srv.client.options("/settings", headers={"Origin": "http://localhost:5173", **PREFLIGHT})
        assert "access-control-allow-origin" not in r.headers


async def test_default_origins_are_localhost_on_any_port(tmp_path) -> None:
    async with running(compat_settings(tmp_path), ready=False) as srv:
        for origin in ("http://localhost:5173", "http://127.0.0.1:4173", "http://[::1]:3000", "http://localhost"):
            r = await srv.client.options("/generate", headers={"Origin": origin, **PREFLIGHT})
            assert r.status_code == 200 and r.headers["access-control-allow-origin"] == origin, origin
            r = await srv.client.get("/gpus", headers={"Origin": origin})
            assert r.headers["access-control-allow-origin"] == origin
        for origin in ("http://evil.example", "http://localhost.evil.example", "http://192.168.1.9:5173"):
            r = await srv.client.get("/settings", headers={"Origin": origin})
            assert "access-control-allow-origin" not in r.headers, origin
            assert (await srv.client.options("/generate", headers={"Origin": origin, **PREFLIGHT})).status_code == 400
        # Only RemGo's routes: the /v1 API keeps its own rule (no origin unless configured).
        r = await srv.client.get("/v1/catalog", headers={"Origin": "http://localhost:5173"})
        assert "access-control-allow-origin" not in r.headers
        gpus = (await srv.client.get("/gpus")).json()
        assert gpus == {"multi_gpu_enabled": False, "gpu_count": 1,
                        "gpus": [{"device": "cpu", "name": srv.services.pool.workers[0].name, "weight": 1,
                                  "busy": False}]}


async def test_configured_origins_replace_the_default(tmp_path) -> None:
    lan = "http://192.168.1.9:5173"
    async with running(compat_settings(tmp_path, cors_origins=[lan]), ready=False) as srv:
        r = await srv.client.options("/generate", headers={"Origin": lan, **PREFLIGHT})
        assert r.status_code == 200 and r.headers["access-control-allow-origin"] == lan
        r = await srv.client.get("/settings", headers={"Origin": "http://localhost:5173"})
        assert "access-control-allow-origin" not in r.headers
        async with websockets.connect(f"{srv.ws_url}/ws", origin=lan):
            pass
        with pytest.raises(websockets.InvalidStatus):
            async with websockets.connect(f"{srv.ws_url}/ws", origin="http://localhost:5173"):
                pass


async def test_api_keys_by_query_or_cookie(tmp_path) -> None:
    async with running(compat_settings(tmp_path, api_keys=["sesame"]), ready=False) as srv:
        assert (await srv.client.get("/settings")).status_code == 401
        r = await srv.client.options("/generate", headers={"Origin": "http://localhost:5173", **PREFLIGHT})
        assert r.status_code == 200  # a preflight carries no key; the request after it must
        # a key in a URL opens image routes only (for <img> tags): it would end up in logs and history
        assert (await srv.client.get("/settings?api_key=sesame")).status_code == 401
        assert (await srv.client.get("/images/none.png?api_key=sesame")).status_code == 404
        assert (await srv.client.get("/api-key-cookie?api_key=wrong")).status_code == 401
        r = await srv.client.get("/api-key-cookie?api_key=sesame")
        assert r.status_code == 200
        cookie = r.headers["set-cookie"]
        assert cookie.startswith("remgo_api_key=sesame;") and "HttpOnly" in cookie and "SameSite=strict" in cookie
        assert srv.client.cookies.get("remgo_api_key") == "sesame"
        assert (await srv.client.get("/settings")).status_code == 200  # the cookie is sent from now on
        async with websockets.connect(f"{srv.ws_url}/ws", additional_headers={"Cookie": "remgo_api_key=sesame"}):
            pass
        srv.client.cookies.clear()
        assert (await srv.client.get("/settings", headers={"Cookie": "remgo_api_key=nope"})).status_code == 401
        r = await srv.client.get("/api-key-cookie", headers={"Authorization": "Bearer sesame"})
        assert r.status_code == 422 and r.json()["field"] == "api_key"


async def test_cookie_route_needs_keys_switched_on(tmp_path) -> None:
    async with running(compat_settings(tmp_path), ready=False) as srv:
        r = await srv.client.get("/api-key-cookie?api_key=x")
        assert r.status_code == 400 and "no API keys" in r.json()["error"]
