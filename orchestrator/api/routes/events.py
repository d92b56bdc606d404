"""Live job events.

GET /v1/jobs/{id}/events   SSE for one job: its state now, then every event up to the terminal one.
GET /v1/events             SSE for every job, until the client goes.
WS  /v1/ws                 send {"op": "subscribe" | "unsubscribe", "job_id": "<id>" | "*"}; receive the
                           same events as JSON text frames (plus "subscribed"/"unsubscribed"/"error").
Event types: state, queued, started, progress, image_ready, image_skipped, retrying, finished, failed, cancelled,
and `dropped` (job_id "*") when this client read so slowly that events other than progress had to be dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import msgspec
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from orchestrator.api.query import takes
from orchestrator.api.request_body import NESTED_TOO_DEEPLY, validation_error
from orchestrator.api.responses import error_response, services
from orchestrator.api.views import ErrorDetail, WsCommand, WsError
from orchestrator.common.query_params import NoQuery
from orchestrator.jobs.events import Subscription
from orchestrator.jobs.model import TERMINAL_EVENTS, JobEvent
from orchestrator.jobs.store import TERMINAL, Job

KEEPALIVE_SECONDS = 15.0
_TERMINAL_TYPE = {"succeeded": "finished", "failed": "failed", "cancelled": "cancelled"}
_enc = msgspec.json.Encoder()


_command = msgspec.json.Decoder(WsCommand)


def state_event(svc, job: Job) -> JobEvent:
    """The job as it is now, as an event: its terminal event if it is over, else a `state` event."""
    kind = _TERMINAL_TYPE.get(job.status.value, "state")
    return svc.events.stamp(JobEvent(type=kind, job_id=job.id, status=job.status, position=svc.jobs.position(job),
                                     progress=svc.dispatcher.progress_of(job), error=job.error))


def _frame(event: JobEvent, data: bytes) -> bytes:
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (event.id, event.type.encode(), data)


def lost_notice(sub: Subscription, told: int) -> JobEvent | None:
    """A `dropped` event when the subscription lost events since `told` were reported, else None."""
    if sub.lost <= told:
        return None
    return sub.stamp(JobEvent(type="dropped", job_id="*", message=(
        f"{sub.lost - told} event(s) were dropped because this client read too slowly; "
        "GET /v1/jobs/{id} gives each job's current state")))


async def _stream(sub: Subscription, first: JobEvent | None, until_terminal: bool) -> AsyncIterator[bytes]:
    told = 0
    try:
        if first is not None:
            yield _frame(first, _enc.encode(first))
            if until_terminal and first.type in TERMINAL_EVENTS:
                return
        while True:
            item = await sub.get(timeout=KEEPALIVE_SECONDS)
            if item is None:
                yield b": keepalive\n\n"
                continue
            if (notice := lost_notice(sub, told)) is not None:
                told = sub.lost
                yield _frame(notice, _enc.encode(notice))
            yield _frame(item.event, item.json)
            if until_terminal and item.event.type in TERMINAL_EVENTS:
                return
    finally:
        sub.close()


def _sse(body: AsyncIterator[bytes]) -> StreamingResponse:
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(body, media_type="text/event-stream", headers=headers)


@takes(NoQuery)
async def job_events(request: Request) -> Response:
    svc = services(request)
    job_id = request.path_params["id"]
    sub = svc.events.subscribe([job_id])  # before reading the job, so nothing falls in between
    job = svc.jobs.get(job_id)
    if job is None:
        sub.close()
        return error_response(404, f"no job with id {job_id!r}", "id")
    return _sse(_stream(sub, state_event(svc, job), until_terminal=True))


@takes(NoQuery)
async def all_events(request: Request) -> Response:
    return _sse(_stream(services(request).events.subscribe(all_jobs=True), None, until_terminal=False))


@takes(NoQuery)
async def websocket(ws: WebSocket) -> None:
    svc = ws.app.state.services
    await ws.accept()
    sub = svc.events.subscribe()

    async def pump() -> None:
        told = 0
        while True:
            item = await sub.get()
            if item is None:
                continue
            if (notice := lost_notice(sub, told)) is not None:
                told = sub.lost
                await ws.send_text(_enc.encode(notice).decode())
            await ws.send_text(item.json.decode())

    sender = asyncio.create_task(pump())
    try:
        while True:
            reply = _handle(svc, sub, await ws.receive_text())
            await ws.send_text(_enc.encode(reply).decode())
    except WebSocketDisconnect:
        pass
    finally:
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await sender
        sub.close()


def _handle(svc, sub: Subscription, text: str) -> JobEvent | WsError:
    try:
        cmd = _command.decode(text)
    except msgspec.ValidationError as exc:
        err = validation_error(exc, WsCommand, text.encode())
        return WsError(error=ErrorDetail(message=err.message, field=err.field, suggestions=err.suggestions))
    except msgspec.DecodeError as exc:
        return WsError(error=ErrorDetail(message=f"not valid JSON: {exc}", field="$"))
    except RecursionError:
        return WsError(error=ErrorDetail(message=f"not valid JSON: {NESTED_TOO_DEEPLY}", field="$"))
    if cmd.job_id == "*":
        sub.watch_all(cmd.op == "subscribe")
        return sub.stamp(JobEvent(type=f"{cmd.op}d", job_id="*"))
    if cmd.op == "unsubscribe":
        sub.remove(cmd.job_id)
        return sub.stamp(JobEvent(type="unsubscribed", job_id=cmd.job_id))
    job = svc.jobs.get(cmd.job_id)
    if job is None:
        return WsError(error=ErrorDetail(message=f"no job with id {cmd.job_id!r}", field="$.job_id"))
    if job.status not in TERMINAL:
        sub.add(cmd.job_id)
    return msgspec.structs.replace(state_event(svc, job), type="subscribed")


def routes() -> list[BaseRoute]:
    return [
        Route("/v1/jobs/{id}/events", job_events, methods=["GET"]),
        Route("/v1/events", all_events, methods=["GET"]),
        WebSocketRoute("/v1/ws", websocket),
    ]
