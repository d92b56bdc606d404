"""The application factory: builds the services, mounts every route, runs the lifespan.

Start-up does not wait for workers: the pool spawns them in the background, so HTTP answers (and
queues jobs) while models load. Shutdown stops dispatching first, so jobs still running stay `running`
in the store and resume on the next start, then shuts the workers down in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request, cookie_parser
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from orchestrator.api.request_guard import JsonBodyGuard, RequestGuard, body_limit
from orchestrator.api.responses import API_KEY_COOKIE, error_response
from orchestrator.api.routes import catalog as catalog_routes
from orchestrator.api.routes import events as events_routes
from orchestrator.api.routes import history as history_routes
from orchestrator.api.routes import jobs as jobs_routes
from orchestrator.api.routes import outputs as outputs_routes
from orchestrator.api.routes import system as system_routes
from orchestrator.api.routes import ui as ui_routes
from orchestrator.api.routes import uploads as uploads_routes
from orchestrator.catalog import Catalog
from orchestrator.common.foreground import Foreground, ForegroundMiddleware
from orchestrator.compat.a1111 import auth as a1111_auth
from orchestrator.compat.a1111 import routes as a1111_routes
from orchestrator.compat.fooocus_api import routes as fooocus_api_routes
from orchestrator.compat.remgo import routes as remgo_routes
from orchestrator.jobs.dispatcher import Dispatcher
from orchestrator.jobs.events import EventHub
from orchestrator.jobs.input_bytes import pending_inputs
from orchestrator.jobs.state_lock import StateLock
from orchestrator.jobs.store import JobStore
from orchestrator.jobs.submit import Submitter
from orchestrator.jobs.webhooks import WebhookSender
from orchestrator.pool.worker_pool import WorkerPool
from orchestrator.settings import Settings
from orchestrator.store.daily_log import DailyLog
from orchestrator.store.history import scan as history_scan
from orchestrator.store.history.index import History, default_db_path
from orchestrator.store.input_refs import InputResolver
from orchestrator.store.inputs import InputStore
from orchestrator.store.outputs import OutputStore

log = logging.getLogger("remgo")
OPEN_PATHS = frozenset({"/health", *ui_routes.PUBLIC_PATHS})  # the web page holds no data


@dataclass
class Services:
    settings: Settings
    catalog: Catalog
    jobs: JobStore
    dispatcher: Dispatcher
    pool: WorkerPool
    events: EventHub
    outputs: OutputStore
    history: History
    webhooks: WebhookSender
    submitter: Submitter
    state_lock: StateLock
    inputs: InputStore
    foreground: Foreground  # the requests being answered, which background hashing waits for
    daily_log: DailyLog | None = None  # None when the `daily_log` setting is off


def build_services(settings: Settings) -> Services:
    state_lock = StateLock(Path(settings.state_dir))
    state_lock.acquire()  # before the job database is opened: two servers would run its jobs twice
    foreground = Foreground()
    catalog = Catalog(Path(settings.catalog_dir), [Path(r) for r in settings.model_roots],
                      allow_unsafe_pickles=settings.allow_unsafe_pickles, foreground=foreground)
    jobs = JobStore(Path(settings.state_dir) / "jobs.db")
    outputs = OutputStore(Path(settings.outputs_dir))
    history = History(default_db_path(Path(settings.outputs_dir)), outputs)
    inputs = InputStore(Path(settings.state_dir) / "inputs")  # the images requests bring, by sha256
    daily_log = DailyLog(history) if settings.daily_log else None  # follows the index from here on
    events = EventHub(settings.event_queue_size)
    webhooks = WebhookSender(settings.webhook_secret, max_attempts=settings.webhook_max_attempts,
                             backoff=settings.webhook_backoff, timeout=settings.webhook_timeout,
                             allow_private=settings.webhook_allow_private, log_store=jobs)
    # The catalog offers what the workers' kernel actually runs.
    # Workers accept model paths in exactly the folders the catalog scanned (docs/models.md, "Links").
    pool = WorkerPool(settings, on_health=lambda h: catalog.set_kernel_capabilities(
        h.samplers, h.schedulers, h.image_inputs if h.kernel_state == "ready" else None),
                      model_roots=catalog.worker_roots(), foreground=foreground)
    dispatcher = Dispatcher(settings=settings, store=jobs, pool=pool, events=events, outputs=outputs,
                            history=history, webhooks=webhooks, inputs=inputs)
    submitter = Submitter(catalog=catalog, dispatcher=dispatcher, webhooks=webhooks,
                          inputs=InputResolver(inputs, history), default_preset=settings.default_preset,
                          webhook_allow_private=settings.webhook_allow_private)
    return Services(settings=settings, catalog=catalog, jobs=jobs, dispatcher=dispatcher, pool=pool,
                    events=events, outputs=outputs, history=history, webhooks=webhooks, submitter=submitter,
                    state_lock=state_lock, inputs=inputs, foreground=foreground, daily_log=daily_log)


# Where `?api_key=` is taken: GETs of image bytes (an <img> tag cannot send a header or, cross-origin, a
# cookie) and the route that turns it into the cookie. Anywhere else a key in a URL would end up in logs,
# browser history and Referer headers for no need.
QUERY_KEY_PATHS = re.compile(
    r"^(/outputs/|/thumbs/|/images/|/files/|/v1/history/[^/]+/(file|thumb)$|/v1/uploads/[^/]+$|/api-key-cookie$)")


class KeyRedactor(logging.Filter):
    """Access-log lines carry the request target; a `?api_key=` in it becomes `api_key=***`."""

    _KEY = re.compile(r"(api_key=)[^&\s\"]*")

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(self._KEY.sub(r"\1***", a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = self._KEY.sub(r"\1***", record.msg)
        return True


class HealthPollsToDebug(logging.Filter):
    """The web page asks /health every few seconds: those lines are debug, not info, so they do not bury
    the jobs and the other requests."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        target = args[2] if isinstance(args, tuple) and len(args) > 2 and isinstance(args[2], str) else ""
        if target.split("?", 1)[0] != "/health":
            return True
        if not logging.getLogger(record.name).isEnabledFor(logging.DEBUG):
            return False
        record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
        return True


def redact_keys_in_access_log() -> None:
    """uvicorn sets up its loggers when it starts; the filters go on after (idempotent)."""
    access = logging.getLogger("uvicorn.access")
    for kind in (KeyRedactor, HealthPollsToDebug):
        if not any(isinstance(f, kind) for f in access.filters):
            access.addFilter(kind())


class ApiKeyMiddleware:
    """With keys configured, every route but /health needs `Authorization: Bearer <key>`, or the
    `remgo_api_key` cookie (HttpOnly, SameSite=Strict; set by POST /v1/session or GET /api-key-cookie) for
    browser pages, whose EventSource and WebSocket cannot send a header, or `?api_key=` on the image
    routes of QUERY_KEY_PATHS. Keys are compared in constant time.
    """

    def __init__(self, app: ASGIApp, keys: list[str], checked_elsewhere: tuple[str, ...] = ()) -> None:
        self.app = app
        self.keys = [k.encode() for k in keys]
        self.checked_elsewhere = checked_elsewhere  # path prefixes a face's own login check covers

    def _allowed(self, scope: Scope) -> bool:
        token = b""
        for name, value in scope.get("headers", ()):
            if name == b"authorization" and value[:7].lower() == b"bearer ":
                token = value[7:].strip()
            elif name == b"x-api-key" and not token:  # Fooocus-API's header, for its clients
                token = value.strip()
        if not token and scope.get("method") in ("GET", "HEAD") and QUERY_KEY_PATHS.match(scope["path"]):
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            token = query.get("api_key", [""])[0].encode()
        if not token:
            for name, value in scope.get("headers", ()):
                if name == b"cookie":
                    token = cookie_parser(value.decode("latin-1")).get(API_KEY_COOKIE, "").encode()
        return bool(token) and any(hmac.compare_digest(token, k) for k in self.keys)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] not in ("http", "websocket") or scope["path"] in OPEN_PATHS
                or scope["path"].startswith(self.checked_elsewhere) or self._allowed(scope)):
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": "an API key is required"})
        else:
            response = error_response(401, "a valid API key is required: Authorization: Bearer <key>",
                                      "Authorization", headers={"WWW-Authenticate": "Bearer"})
            await response(scope, receive, send)


class BodyLimitMiddleware:
    """Request bodies above `limit` bytes (more on the routes that take image files: request_guard.body_limit)
    are answered 413 before any route reads them."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = body_limit(scope["method"], scope["path"], self.limit)
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > limit:
                response = error_response(413, f"the body is larger than {limit} bytes", "$")
                await response(scope, receive, send)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body, replayed = b"".join(chunks), False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return error_response(exc.status_code, str(exc.detail), None, headers=exc.headers)


async def _server_error(request: Request, exc: Exception) -> Response:
    log.exception("%s %s failed", request.method, request.url.path, exc_info=exc)
    return error_response(500, f"internal error: {type(exc).__name__}")


def prune_inputs(svc: Services) -> None:
    """Input images nobody sent for `input_retention_days`, that no job still to run needs, are removed."""
    keep = pending_inputs(svc.jobs)
    removed = svc.inputs.prune(keep, svc.settings.input_retention_days * 86400)
    if removed:
        log.info("removed %d input image(s) older than %g days", len(removed), svc.settings.input_retention_days)


def create_app(settings: Settings, services: Services | None = None) -> Starlette:
    svc = services or build_services(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        redact_keys_in_access_log()
        for line in svc.catalog.fitting_report(settings.default_preset):  # said once here, not per job
            log.info(line)
        if svc.daily_log is not None:
            svc.daily_log.start()
        svc.pool.start()
        svc.dispatcher.start()
        svc.webhooks.resume()  # deliveries a previous run did not finish
        reconcile: asyncio.Future[Any] = asyncio.ensure_future(asyncio.to_thread(history_scan.reconcile, svc.history))
        await asyncio.to_thread(prune_inputs, svc)
        try:
            yield
        finally:
            await svc.dispatcher.stop()
            await svc.pool.stop(timeout=10)
            await svc.dispatcher.drain_units(5)
            await svc.webhooks.drain(5)
            with contextlib.suppress(Exception):
                await reconcile
            if svc.daily_log is not None:
                await asyncio.to_thread(svc.daily_log.close)  # the pages of the last images, then no more
            svc.history.close()
            svc.jobs.close()
            svc.state_lock.release()

    middleware = [Middleware(ForegroundMiddleware, foreground=svc.foreground),  # counts every request
                  Middleware(RequestGuard, bind_host=settings.host, allowed_hosts=settings.allowed_hosts,
                             cors_origins=settings.cors_origins)]  # before CORS, keys, routes
    if settings.cors_origins:
        middleware.append(Middleware(CORSMiddleware, allow_origins=settings.cors_origins,
                                     allow_methods=["GET", "POST", "PATCH", "DELETE"],
                                     allow_headers=["Authorization", "Content-Type", "X-API-KEY"]))
    if settings.remgo_compat and not settings.cors_origins:
        middleware.append(Middleware(remgo_routes.LocalOriginCors))  # outside the key check: preflights
    if settings.a1111_compat:  # A1111's logins (HTTP Basic) or an API key on /sdapi/
        middleware.append(Middleware(a1111_auth.A1111Auth, credentials=settings.a1111_api_auth,
                                     api_keys=settings.api_keys))
    if settings.api_keys:
        middleware.append(Middleware(ApiKeyMiddleware, keys=settings.api_keys,
                                     checked_elsewhere=(a1111_auth.PREFIX,) if settings.a1111_compat else ()))
    middleware.append(Middleware(JsonBodyGuard))
    middleware.append(Middleware(BodyLimitMiddleware, limit=settings.max_body_bytes))
    routes = [
        *system_routes.routes(),
        *jobs_routes.routes(),
        *uploads_routes.routes(),
        *events_routes.routes(),
        *catalog_routes.routes(),
        *history_routes.routes(),
        *outputs_routes.routes(),
        *(remgo_routes.routes() if settings.remgo_compat else []),  # RemGo's API at the root paths
        *(a1111_routes.routes() if settings.a1111_compat else []),  # AUTOMATIC1111's API at /sdapi/v1/
        *(fooocus_api_routes.routes() if settings.fooocus_api_compat else []),  # Fooocus-API's paths
        *ui_routes.routes(),  # the web UI at /
    ]
    handlers = {HTTPException: _http_error, Exception: _server_error}
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan, exception_handlers=handlers)
    app.state.services = svc
    return app
