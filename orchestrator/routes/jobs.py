"""The jobs API.

POST /v1/jobs                 submit (v2 request or v1 payload) → 202 {id, status, position}
     ?id=  client-chosen id (the same id again returns the first job)   ?priority=  higher runs first
     ?webhook_url=  POSTed the job when it ends    ?wait=true  answer when done    ?inline=true  base64 images
     (inline: 400 when the image files total more than INLINE_LIMIT bytes)
GET  /v1/jobs                 ?status= &limit= &cursor=   newest first
GET  /v1/jobs/{id}            everything about one job   ?inline=true
POST /v1/jobs/{id}/cancel     idempotent                POST /v1/jobs/{id}/skip   drop the current image
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from orchestrator.api_views import JobAccepted, JobList, job_summary
from orchestrator.dispatcher import QueueFull
from orchestrator.jobs import Job, JobStatus, Normalized
from orchestrator.normalize import NormalizeError, normalize
from orchestrator.outputs import OutputStore
from orchestrator.request_body import BodyError, decode_request
from orchestrator.routes.responses import error_response, json_response, query_bool, services
from orchestrator.webhooks import url_problem

JOB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
PRIORITY_RANGE = (-100, 100)
MAX_LIST = 500
# Image file bytes one `inline=true` answer may carry (base64 makes the JSON a third larger): the whole
# answer is built in memory, so a 32-image job of large PNGs is fetched from `images[].url` instead.
INLINE_LIMIT = 64 * 1024 * 1024


class QueryError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _int_param(request: Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise QueryError(name, f"expected an integer, got {raw!r}") from None
    if not lo <= value <= hi:
        raise QueryError(name, f"must be between {lo} and {hi}, got {value}")
    return value


def _bool_param(request: Request, name: str) -> bool:
    try:
        return query_bool(request, name)
    except ValueError as exc:
        raise QueryError(name, str(exc).split(": ", 1)[1]) from None


def _not_found(job_id: str) -> Response:
    return error_response(404, f"no job with id {job_id!r}", "id")


class InlineTooLarge(Exception):
    pass


def _read_images(outputs: OutputStore, job: Job) -> dict[str, bytes]:
    """relpath → file bytes of the job's images (run in a thread); InlineTooLarge, before reading any,
    when they total more than INLINE_LIMIT."""
    paths = {}
    total = 0
    for record in job.images:
        path = outputs.resolve(record.relpath) if record.relpath else None
        if path is None:
            continue
        try:
            total += path.stat().st_size
        except OSError:
            continue  # gone since: shown without data, as before
        paths[record.relpath] = path
    if total > INLINE_LIMIT:
        raise InlineTooLarge(f"the job's images total {total / 2**20:.1f} MiB, over the {INLINE_LIMIT // 2**20} "
                             "MiB an inline answer carries; leave out inline and fetch each from images[].url")
    found = {}
    for relpath, path in paths.items():
        try:
            found[relpath] = path.read_bytes()
        except OSError:
            pass
    return found


async def _inline_view(request: Request, job: Job) -> Response:
    """The whole job with its image files, read off the event loop."""
    svc = services(request)
    try:
        files = await run_in_threadpool(_read_images, svc.outputs, job)
    except InlineTooLarge as exc:
        return error_response(400, str(exc), "inline")
    read: Callable[[str], bytes | None] = files.get
    return json_response(svc.dispatcher.view(job, read))


async def submit_job(request: Request) -> Response:
    svc = services(request)
    try:
        job_id = request.query_params.get("id") or None
        if job_id is not None and not JOB_ID.match(job_id):
            raise QueryError("id", "1-64 characters: letters, digits, '.', '_' or '-', starting with a letter or digit")
        priority = _int_param(request, "priority", 0, *PRIORITY_RANGE)
        webhook_url = request.query_params.get("webhook_url") or None
        wait, inline = _bool_param(request, "wait"), _bool_param(request, "inline")
    except QueryError as exc:
        return error_response(422, exc.message, exc.field)
    if webhook_url is not None:
        problem = await url_problem(webhook_url, svc.settings.webhook_allow_private)
        if problem is None and not svc.webhooks.enabled:
            problem = "this server has no webhook_secret configured, so it cannot sign webhooks"
        if problem:
            return error_response(422, problem, "webhook_url")
    existing = svc.jobs.get(job_id) if job_id else None
    if existing is None:
        try:
            body, fmt = decode_request(await request.body())
        except BodyError as exc:
            return error_response(422, exc.message, exc.field, exc.suggestions)
        job_id = job_id or uuid.uuid4().hex
        try:
            result = await run_in_threadpool(normalize, body, svc.catalog, job_id=job_id,
                                             default_preset=svc.settings.default_preset)
        except NormalizeError as exc:
            field = exc.field if exc.field.startswith("$") else f"$.{exc.field}"
            return error_response(422, exc.message, field, exc.suggestions)
        normalized = Normalized(tasks=result.tasks, images=result.images, warnings=list(result.warnings),
                                request=result.request)
        job = Job(id=job_id, status=JobStatus.queued, normalized=normalized, request=msgspec.Raw(await request.body()),
                  request_format=fmt, priority=priority, webhook_url=webhook_url)
        try:
            existing, created = svc.dispatcher.submit(job)
        except QueueFull as exc:
            return error_response(429, str(exc), None, headers={"Retry-After": str(exc.retry_after)})
    else:
        created = False
    if wait:
        done = await svc.dispatcher.wait_done(existing.id)
        return await _inline_view(request, done) if inline else json_response(svc.dispatcher.view(done))
    accepted = JobAccepted(id=existing.id, status=existing.status, position=svc.jobs.position(existing),
                           created=created)
    return json_response(accepted, 202 if created else 200, {"Location": f"/v1/jobs/{existing.id}"})


async def get_job(request: Request) -> Response:
    svc = services(request)
    try:
        inline = _bool_param(request, "inline")
    except QueryError as exc:
        return error_response(422, exc.message, exc.field)
    job = svc.jobs.get(request.path_params["id"])
    if job is None:
        return _not_found(request.path_params["id"])
    return await _inline_view(request, job) if inline else json_response(svc.dispatcher.view(job))


async def list_jobs(request: Request) -> Response:
    svc = services(request)
    try:
        status = None
        if raw := request.query_params.get("status"):
            try:
                status = JobStatus(raw)
            except ValueError:
                raise QueryError("status", f"one of {', '.join(s.value for s in JobStatus)}; got {raw!r}") from None
        limit = _int_param(request, "limit", 50, 1, MAX_LIST)
        cursor = None
        if raw := request.query_params.get("cursor"):
            if not raw.isdigit() or int(raw) >= 2**63:  # sqlite integers are 64-bit
                raise QueryError("cursor", "not a cursor this API returned")
            cursor = int(raw)
    except QueryError as exc:
        return error_response(422, exc.message, exc.field)
    jobs, next_cursor = svc.jobs.list(status=status, limit=limit, cursor=cursor)
    summaries = [job_summary(j, svc.jobs.position(j)) for j in jobs]
    return json_response(JobList(jobs=summaries, next_cursor=str(next_cursor) if next_cursor else None))


async def cancel_job(request: Request) -> Response:
    result = await services(request).dispatcher.cancel(request.path_params["id"])
    return _not_found(request.path_params["id"]) if result is None else json_response(result)


async def skip_image(request: Request) -> Response:
    result = await services(request).dispatcher.skip(request.path_params["id"])
    return _not_found(request.path_params["id"]) if result is None else json_response(result)


def routes() -> list[BaseRoute]:
    return [
        Route("/v1/jobs", submit_job, methods=["POST"]),
        Route("/v1/jobs", list_jobs, methods=["GET"]),
        Route("/v1/jobs/{id}", get_job, methods=["GET"]),
        Route("/v1/jobs/{id}/cancel", cancel_job, methods=["POST"]),
        Route("/v1/jobs/{id}/skip", skip_image, methods=["POST"]),
    ]
