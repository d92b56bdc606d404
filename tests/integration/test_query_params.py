"""Query parameters, as a client that mistypes them meets them: every route of the app (taken from its own
route table, so a route added later is covered) refuses an unknown one with the same 422 naming it, and
parameters that only make sense together say so."""

from __future__ import annotations

import json
import re

import pytest
import websockets
from starlette.routing import Route, WebSocketRoute

from bench.harness.in_process import running
from bench.harness.settings import SMALL, server_settings
from orchestrator.api.query import query_of
from orchestrator.app import QUERY_KEY_PATHS
from orchestrator.common.query_params import names

pytestmark = pytest.mark.anyio

UNKNOWN = "wiat"


PARAM = re.compile(r"\{(\w+)(:\w+)?\}")


def _table(app) -> tuple[list[tuple[str, str, Route]], list[tuple[str, WebSocketRoute]]]:
    """(method, path with its parameters filled, route) of every HTTP route; (path, route) of every socket."""
    http, sockets = [], []
    for route in app.routes:
        path = PARAM.sub("x", route.path)
        if isinstance(route, WebSocketRoute):
            sockets.append((path, route))
        elif isinstance(route, Route):
            http += [(method, path, route) for method in sorted(route.methods or ())]
    return http, sockets


def _error(body: dict) -> tuple[str, str, list[str]]:
    """(field, message, suggestions) of either face's error shape."""
    if isinstance(body["error"], dict):  # the v1 API
        return body["error"]["field"], body["error"]["message"], body["error"].get("suggestions", [])
    return body["field"], body["error"], body.get("suggestions", [])  # RemGo's routes


async def test_every_route_refuses_an_unknown_parameter_the_same_way(tmp_path) -> None:
    settings = server_settings(tmp_path, config_file=str(tmp_path / "remgo.toml"), webhook_secret="s")
    async with running(settings, ready=False) as srv:
        http, sockets = _table(srv.app)
        documented = (await srv.client.get("/openapi.json")).json()["paths"]
        assert {("POST", "/v1/jobs"), ("GET", "/v1/history"), ("GET", "/settings"), ("GET", "/")} <= {
            (m, p) for m, p, _ in http} and {p for p, _ in sockets} == {"/v1/ws", "/ws"}
        for method, path, route in http:
            declared = query_of(route.endpoint)
            assert declared is not None, f"{method} {path} declares no query parameters (routes.query.takes)"
            # ?api_key= is declared exactly where the key check reads it.
            assert ("api_key" in names(declared)) == bool(QUERY_KEY_PATHS.match(path) and method in ("GET", "HEAD")), (
                method, path)
            if method != "HEAD":  # the document lists what the route takes, from the same declaration
                op = documented[PARAM.sub(r"{\1}", route.path)][method.lower()]
                assert [q["name"] for q in op.get("parameters", []) if q["in"] == "query"] == list(names(declared))
            r = await srv.client.request(method, f"{path}?{UNKNOWN}=true", content=b"{}")
            assert r.status_code == 422, (method, path, r.status_code, r.text)
            if method == "HEAD":
                continue
            field, message, suggestions = _error(r.json())
            assert field == UNKNOWN and f"unknown query parameter `{UNKNOWN}`" in message, (method, path, r.text)
            assert ("wait" in suggestions) == ("wait" in names(declared)), (method, path, suggestions)
        for path, route in sockets:
            assert query_of(route.endpoint) is not None, path
            with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
                async with websockets.connect(f"{srv.ws_url}{path}?{UNKNOWN}=1"):
                    pass
            assert refused.value.response.status_code == 422, path
            field, message, _ = _error(json.loads(refused.value.response.body))
            assert field == UNKNOWN and UNKNOWN in message, path
        assert (await srv.client.get("/v1/jobs")).json()["jobs"] == []  # nothing was queued on the way
        assert not (tmp_path / "remgo.toml").exists()


async def test_a_mistyped_wait_queues_nothing_and_names_the_close_name(tmp_path) -> None:
    async with running(server_settings(tmp_path), ready=False) as srv:
        r = await srv.client.post("/v1/jobs?wiat=true", json=SMALL)
        assert r.status_code == 422
        assert r.json()["error"] == {
            "message": "unknown query parameter `wiat`; this route takes id, priority, webhook_url, wait, inline",
            "field": "wiat", "suggestions": ["wait"]}
        r = await srv.client.post("/v1/jobs?inline=true", json=SMALL)
        assert r.status_code == 422 and r.json()["error"]["field"] == "inline"
        assert "inline=true needs wait=true" in r.json()["error"]["message"]
        r = await srv.client.get("/v1/jobs?lmit=3")
        assert r.status_code == 422 and r.json()["error"]["suggestions"] == ["limit"]
        r = await srv.client.get("/v1/jobs?limit=3&limit=4")
        assert r.status_code == 422 and r.json()["error"]["field"] == "limit"
        r = await srv.client.get("/v1/jobs?status=runing")
        assert r.status_code == 422 and r.json()["error"] == {
            "message": "'runing' is not one of queued, running, succeeded, failed, cancelled", "field": "status",
            "suggestions": ["running"]}
        r = await srv.client.get("/v1/history?starred=maybe")
        assert r.status_code == 422 and r.json()["error"] == {"message": "must be true or false, got 'maybe'",
                                                               "field": "starred"}
        r = await srv.client.get("/v1/history?since=2024-03-02&until=2024-03-01")
        assert r.status_code == 422 and r.json()["error"]["field"] == "until"
        r = await srv.client.get("/v1/models?kind=lora")
        assert r.status_code == 422 and r.json()["error"]["suggestions"] == ["loras"]
        assert (await srv.client.get("/v1/jobs")).json()["jobs"] == []
        # What worked stays working: booleans as words, empty values as left out, the key on image routes.
        assert (await srv.client.get("/v1/jobs?limit=&status=")).status_code == 200
        assert (await srv.client.get("/v1/history?starred=yes")).status_code == 200
        r = await srv.client.post("/v1/jobs?wait=yes&inline=on&priority=5", json=SMALL)
        assert r.status_code == 200 and r.json()["status"] == "succeeded" and r.json()["images"][0]["data"]
        assert (await srv.client.get(f"{r.json()['images'][0]['url']}?api_key=k")).status_code == 200


async def test_remgo_routes_refuse_in_remgo_shape_and_its_frontend_calls_pass(tmp_path) -> None:
    async with running(server_settings(tmp_path), ready=False) as srv:
        r = await srv.client.get("/history?pgae=2")
        assert r.status_code == 422
        assert r.json() == {"suggestions": ["page"], "field": "pgae",
                            "error": "pgae: unknown query parameter `pgae`; this route takes limit, page, offset "
                                     "(did you mean page?)"}
        r = await srv.client.get("/history?page=1&offset=0")
        assert r.status_code == 422 and r.json()["field"] == "offset"
        # The frontend's own requests carry no query string (useApi.ts).
        for path in ("/settings", "/history", "/gpus", "/config/editor", "/presets/default"):
            assert (await srv.client.get(path)).status_code == 200, path
        async with websockets.connect(f"{srv.ws_url}/ws"):
            pass
