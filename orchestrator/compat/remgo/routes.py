"""RemGo's HTTP API at the root paths, so RemGo's web frontend and scripts work against remgo unchanged.

GET  /settings            the lists the frontend fills its controls with
POST /generate            RemGo's request → a normal job → {task_id, status: "Started", total_images}
WS   /ws                  pushes {type: "progress", task_id, percentage, statusText, finished, results, preview}
                          for every job (either API); it never sends anything else and takes no commands
GET  /status/{task_id}    the same fields for one job        POST /stop   stop every running job
GET  /history?limit=&page=&offset=   newest first, 1…30 per page, Fooocus's metadata keys
GET  /images/{path}       an image under outputs/ (the same safety rules as /outputs)
GET  /presets/{name}      the preset file's Fooocus keys, fitted to this install (what is missing replaced)
GET  /config/editor       POST /config/editor {values}   remgo's settings file
GET  /gpus                the worker pool
GET  /api-key-cookie?api_key=   with API keys on: a cookie for browsers, which cannot send the header

A thin translation: jobs go through the normalizer and the dispatcher as for POST /v1/jobs, progress comes
from the event hub, history from the History index, files through OutputStore.resolve. Errors answer
{"error": "<text>", "field": …}, RemGo's shape (the frontend shows `error` as text).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from orchestrator.api.query import QUERY_STATUS, takes
from orchestrator.api.request_body import BodyError
from orchestrator.api.responses import (
    API_KEY_COOKIE,
    COOKIE_SECONDS,
    json_response,
    services,
    with_key_cookie,
)
from orchestrator.catalog import CatalogError
from orchestrator.common.query_params import KeyQuery, NoQuery, QueryError
from orchestrator.compat.remgo import config_editor
from orchestrator.compat.remgo.progress import event_message, job_status, results_of
from orchestrator.compat.remgo.views import (
    HISTORY_PREFIX,
    HistoryPageQuery,
    OffsetQuery,
    decode_generate,
    gpus_payload,
    history_entry,
    history_page,
    history_payload,
    settings_payload,
)
from orchestrator.jobs.dispatcher import QueueFull
from orchestrator.jobs.model import TERMINAL_EVENTS
from orchestrator.jobs.store import JobStatus
from orchestrator.jobs.submit import Decoded, Submission, SubmitRefused

# Browsers' default for a frontend served from its own dev or preview server on this machine.
LOCAL_ORIGIN = r"^https?://(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$"
PRESET_NAME = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
PATHS = frozenset({"/settings", "/generate", "/stop", "/history", "/gpus", "/config/editor", "/api-key-cookie"})
PREFIXES = ("/status/", "/images/", "/presets/")
_IMMUTABLE = "public, max-age=31536000, immutable"  # outputs/ files never change under one name
_enc = msgspec.json.Encoder()


class EditorBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    values: dict[str, Any]


_editor_body = msgspec.json.Decoder(EditorBody)


def is_compat_path(path: str) -> bool:
    return path in PATHS or path.startswith(PREFIXES)


class LocalOriginCors:
    """CORS for the compatibility routes when no `cors_origins` are configured: any localhost origin.

    (Configured origins are answered for every route by the application's own CORS middleware.)
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.cors = CORSMiddleware(app, allow_origin_regex=LOCAL_ORIGIN, allow_methods=["GET", "POST"],
                                   allow_headers=["Authorization", "Content-Type"])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and is_compat_path(scope["path"]):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def _error(status: int, message: str, field: str | None = None, **extra: Any) -> Response:
    return json_response({**extra, "error": message, "field": field}, status)


def _with_hint(message: str, field: str | None, suggestions: Iterable[str] = ()) -> str:
    """One line for RemGo's frontend, which shows `error` as it is: the field, the problem, the close names."""
    where = field.removeprefix("$.") if field else None
    text = f"{where}: {message}" if where and where != "$" else message
    near = list(suggestions)
    return f"{text} (did you mean {', '.join(near)}?)" if near else text


def remgo_refusal(exc: QueryError) -> Response:
    return _error(QUERY_STATUS, _with_hint(exc.message, exc.field, exc.suggestions), exc.field,
                  suggestions=exc.suggestions)


@takes(NoQuery, remgo_refusal)
async def get_settings(request: Request) -> Response:
    """RemGo: models, LoRAs, styles, presets, sizes … for the frontend's controls."""
    return json_response(settings_payload(services(request).catalog))


def _task_error(task_id: str, status: int, message: str, field: str | None, suggestions: Iterable[str] = (),
                headers: dict[str, str] | None = None) -> Response:
    text = _with_hint(message, field, suggestions)
    body = {"task_id": task_id, "status": "Error", "error": text, "field": field, "suggestions": list(suggestions)}
    return json_response(body, status, headers)


def _decode(body: bytes) -> Decoded:
    request, notes = decode_generate(body)
    return Decoded(request=request, request_format="remgo", notes=tuple(notes))


@takes(NoQuery, remgo_refusal)
async def generate(request: Request) -> Response:
    """RemGo: start a generation; the job is the same as one sent to POST /v1/jobs."""
    svc = services(request)
    task_id = uuid.uuid4().hex
    try:
        job, _ = await svc.submitter.submit(Submission(body=await request.body(), decode=_decode, job_id=task_id))
    except (BodyError, SubmitRefused) as exc:
        return _task_error(task_id, 422, exc.message, exc.field, exc.suggestions)
    except QueueFull as exc:
        return _task_error(task_id, 429, str(exc), None, headers={"Retry-After": str(exc.retry_after)})
    return json_response({"task_id": task_id, "status": "Started", "total_images": job.images_total,
                          "warnings": job.normalized.warnings})


@takes(NoQuery, remgo_refusal)
async def task_status(request: Request) -> Response:
    """RemGo: one job's percentage, status text, results and preview."""
    svc = services(request)
    job = svc.jobs.get(request.path_params["task_id"])
    if job is None:
        return _error(404, f"no task with id {request.path_params['task_id']!r}", "task_id")
    return json_response(job_status(job, svc.dispatcher.progress_of(job), svc.jobs.position(job)))


@takes(NoQuery, remgo_refusal)
async def stop(request: Request) -> Response:
    """RemGo: stop every running job that came through RemGo's routes (queued jobs keep their place).

    Jobs of the /v1 API belong to other clients, who stop them by id: RemGo's frontend stopping "its"
    generation must not end theirs."""
    if (await request.body()).strip() not in (b"", b"{}"):
        return _error(400, "POST /stop takes no body; it stops every running job started here", "$")
    svc = services(request)
    running, _ = svc.jobs.list(status=JobStatus.running, limit=10_000)
    running = [job for job in running if job.request_format == "remgo"]
    # wait=0: answer once the workers were told, as RemGo does; each job ends `cancelled` shortly after.
    answers = await asyncio.gather(*(svc.dispatcher.cancel(job.id, wait=0) for job in running))
    stopped = [a.id for a in answers if a is not None and a.changed]
    return json_response({"status": "Stop requested", "stopped": stopped})


@takes(HistoryPageQuery, remgo_refusal)
async def history(request: Request, query: HistoryPageQuery) -> Response:
    """RemGo: one page of images, newest first, with the metadata Fooocus logs."""
    page = history_page(query)
    svc = services(request)

    def read() -> tuple[list[dict[str, Any]], int]:
        items = svc.history.page(OffsetQuery(limit=page.limit, offset=page.offset)).items
        entries = [history_entry(item, item.url == svc.outputs.url_for(item.path)) for item in items]
        return entries, svc.history.count()

    entries, total = await run_in_threadpool(read)
    return json_response(history_payload(entries, total, page))


def _find_image(svc: Any, path: str) -> tuple[Path, bool] | None:
    """(file, immutable) for an /images/ path: a file under outputs/, or a history image kept elsewhere."""
    for candidate in dict.fromkeys((path, unquote(path))):  # segments may arrive percent-encoded once more
        found = svc.outputs.resolve(candidate)
        if found is not None:
            return found, True
    parts = unquote(path).split("/")
    if len(parts) == 3 and parts[0] == HISTORY_PREFIX:
        row = svc.history.row(parts[1])
        found = None if row is None else svc.history.file_path(row)
        if found is not None and found.name == parts[2]:
            return found, False
    return None


@takes(KeyQuery, remgo_refusal)
async def image_file(request: Request) -> Response:
    """RemGo: an image file by its history path."""
    found = await run_in_threadpool(_find_image, services(request), request.path_params["path"])
    if found is None:
        return _error(404, "no such image", "path")
    path, immutable = found
    return FileResponse(path, headers={"Cache-Control": _IMMUTABLE if immutable else "no-cache"})


@takes(NoQuery, remgo_refusal)
async def preset(request: Request) -> Response:
    """RemGo: a preset's keys as its file has them (default_model, default_cfg_scale …), with a model, LoRA
    or style this install lacks replaced or left out as on /v1/presets (the frontend sends them back)."""
    name = request.path_params["name"]
    if not PRESET_NAME.match(name):
        return _error(400, f"{name!r}: a preset name is letters, digits, '.', '_' and '-'", "name")
    try:
        found = services(request).catalog.preset(name, field="name")
    except CatalogError as exc:
        return _error(404, exc.message, "name", suggestions=exc.suggestions)
    return json_response(found.fitted_raw if found.fitted_raw is not None else found.raw)


@takes(NoQuery, remgo_refusal)
async def get_config(request: Request) -> Response:
    """RemGo: remgo's editable settings, their types, defaults and current values."""
    try:
        return json_response(await run_in_threadpool(config_editor.payload, services(request).settings))
    except config_editor.EditorError as exc:
        return _error(exc.status, str(exc), exc.key, success=False)


@takes(NoQuery, remgo_refusal)
async def post_config(request: Request) -> Response:
    """RemGo: write settings into remgo's settings file (applied at the next start)."""
    try:
        body = _editor_body.decode(await request.body())
    except msgspec.ValidationError as exc:
        return _error(400, f"the body must be {{\"values\": {{…}}}}: {exc}", "values", success=False)
    except (msgspec.DecodeError, RecursionError) as exc:  # RecursionError: JSON nested thousands deep
        return _error(400, f"not valid JSON: {exc}", "$", success=False)
    try:
        answer = await run_in_threadpool(config_editor.save, services(request).settings, body.values)
    except config_editor.EditorError as exc:
        return _error(exc.status, str(exc), exc.key, success=False)
    return json_response(answer)


@takes(NoQuery, remgo_refusal)
async def gpus(request: Request) -> Response:
    """RemGo: the workers, one per device, and whether each is busy."""
    return json_response(gpus_payload(services(request).pool.workers))


@takes(KeyQuery, remgo_refusal)
async def api_key_cookie(request: Request, query: KeyQuery) -> Response:
    """Store the API key given as ?api_key= in a cookie, for browser pages that cannot send a header."""
    if not services(request).settings.api_keys:
        return _error(400, "this server has no API keys configured; no cookie is needed", "api_key")
    if not query.api_key:  # reached with a header or a cookie: nothing to store
        return _error(QUERY_STATUS, "give the key as ?api_key=<key> to store it in a cookie", "api_key")
    return with_key_cookie(json_response({"cookie": API_KEY_COOKIE, "max_age": COOKIE_SECONDS}), query.api_key)


@takes(NoQuery, remgo_refusal)
async def websocket(ws: WebSocket) -> None:
    """RemGo: progress of every job, pushed; the socket takes no commands."""
    svc = ws.app.state.services
    await ws.accept()
    sub = svc.events.subscribe(all_jobs=True)
    results: dict[str, list[str]] = {}

    async def pump() -> None:
        while True:
            item = await sub.get()
            if item is None:
                continue
            event = item.event
            if event.type in ("image_ready", "image_skipped") or event.type in TERMINAL_EVENTS:
                results[event.job_id] = results_of(svc.jobs.get(event.job_id))
            message = event_message(event, results.get(event.job_id, []))
            if message.finished:
                results.pop(event.job_id, None)
            await ws.send_text(_enc.encode(message).decode())

    sender = asyncio.create_task(pump())
    try:
        message = await ws.receive()
        if message["type"] == "websocket.receive":
            await ws.close(code=1003, reason="this socket only sends progress; send commands to /v1/ws")
    finally:
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await sender
        sub.close()


def routes() -> list[BaseRoute]:
    return [
        Route("/settings", get_settings, methods=["GET"]),
        Route("/generate", generate, methods=["POST"]),
        Route("/status/{task_id}", task_status, methods=["GET"]),
        Route("/stop", stop, methods=["POST"]),
        Route("/history", history, methods=["GET"]),
        Route("/images/{path:path}", image_file, methods=["GET", "HEAD"]),
        Route("/presets/{name}", preset, methods=["GET"]),
        Route("/config/editor", get_config, methods=["GET"]),
        Route("/config/editor", post_config, methods=["POST"]),
        Route("/gpus", gpus, methods=["GET"]),
        Route("/api-key-cookie", api_key_cookie, methods=["GET"]),
        WebSocketRoute("/ws", websocket),
    ]
