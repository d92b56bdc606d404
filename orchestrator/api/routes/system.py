"""Service-level routes.

GET /health        liveness and readiness; never needs an API key
GET /v1/workers    each worker: device, state, loaded models, current task, restarts
GET /metrics       Prometheus text: queue depth, jobs by state, step rate, worker restarts …
GET /openapi.json  the API described from the msgspec schemas;  GET /docs  a readable page of it
POST /v1/session   with API keys on: the key given in the Authorization header, as an HttpOnly cookie
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from orchestrator.api.openapi import build_openapi, render_docs
from orchestrator.api.query import takes
from orchestrator.api.responses import (
    API_KEY_COOKIE,
    COOKIE_SECONDS,
    error_response,
    json_response,
    services,
    with_key_cookie,
)
from orchestrator.api.views import HealthView, WorkerList, WorkerView
from orchestrator.common.query_params import NoQuery
from orchestrator.jobs import metrics
from orchestrator.pool.handle import WorkerHandle, WorkerState

_READY = (WorkerState.idle, WorkerState.busy)


def worker_view(w: WorkerHandle) -> WorkerView:
    return WorkerView(
        name=w.name, device=w.device, state=w.state, pid=w.pid if w.alive else None,
        kernel=w.health.kernel if w.health else None, loaded_models=w.loaded_models, current_job=w.current_job,
        current_task=w.current_task, restarts=w.restarts, tasks_done=w.tasks_done, error=w.error,
        last_exit=w.last_exit, placement=w.placement,
    )


@takes(NoQuery)
async def health(request: Request) -> Response:
    svc = services(request)
    ready = sum(1 for w in svc.pool.workers if w.state in _READY)
    view = HealthView(status="ok" if ready else "starting", ready=ready > 0, workers_ready=ready,
                      workers_total=len(svc.pool.workers), queue_depth=svc.jobs.queue_depth())
    return json_response(view)


@takes(NoQuery)
async def workers(request: Request) -> Response:
    pool = services(request).pool
    live = [w for w in pool.workers if w.state in _READY and w.connected]
    await asyncio.gather(*(pool.refresh(w) for w in live))  # current loaded models
    return json_response(WorkerList(workers=[worker_view(w) for w in pool.workers]))


@takes(NoQuery)
async def prometheus(request: Request) -> Response:
    svc = services(request)
    text = metrics.render(svc.dispatcher.stats, svc.jobs.counts(), svc.pool.workers, svc.events.subscriber_count,
                          svc.events.lost)
    return PlainTextResponse(text, media_type="text/plain; version=0.0.4")


@takes(NoQuery)
async def openapi_json(request: Request) -> Response:
    svc = services(request)
    return json_response(build_openapi(request.app.routes, secured=bool(svc.settings.api_keys)))


@takes(NoQuery)
async def docs(request: Request) -> Response:
    svc = services(request)
    return HTMLResponse(render_docs(build_openapi(request.app.routes, secured=bool(svc.settings.api_keys))))


@takes(NoQuery)
async def session(request: Request) -> Response:
    """The web page's key, from the header it was checked in, into a cookie its EventSource and WebSocket
    send by themselves (SameSite=Strict: never on a request another website makes)."""
    if not services(request).settings.api_keys:
        return error_response(400, "this server has no API keys configured; no session is needed",
                              "Authorization")
    header = request.headers.get("authorization", "")
    if header[:7].lower() != "bearer ":
        return error_response(400, "send the key as `Authorization: Bearer <key>`", "Authorization")
    return with_key_cookie(json_response({"cookie": API_KEY_COOKIE, "max_age": COOKIE_SECONDS}),
                           header[7:].strip())


def routes() -> list[BaseRoute]:
    return [
        Route("/health", health, methods=["GET"]),
        Route("/v1/workers", workers, methods=["GET"]),
        Route("/metrics", prometheus, methods=["GET"]),
        Route("/openapi.json", openapi_json, methods=["GET"]),
        Route("/docs", docs, methods=["GET"]),
        Route("/v1/session", session, methods=["POST"]),
    ]
