"""The jobs API.

POST /v1/jobs                 submit (v2 request or v1 payload) → 202 {id, status, position}
     or multipart/form-data: the JSON in a part `request`, image files in parts named as the image fields
     ?id=  client-chosen id (the same id again returns the first job)   ?priority=  higher runs first
     ?webhook_url=  POSTed the job when it ends    ?wait=true  answer when done    ?inline=true  base64 images
     (inline: only with wait=true; 400 when the image files total more than INLINE_LIMIT bytes)
GET  /v1/jobs                 ?status= &limit= &cursor=   newest first
GET  /v1/jobs/{id}            everything about one job   ?inline=true
POST /v1/jobs/{id}/cancel     idempotent                POST /v1/jobs/{id}/skip   drop the current image
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from orchestrator.api.multipart import FormRefused, job_body
from orchestrator.api.query import takes
from orchestrator.api.request_body import BodyError, decode_request
from orchestrator.api.request_guard import MULTIPART, media_type
from orchestrator.api.responses import error_response, json_response, services
from orchestrator.api.views import JobAccepted, JobList, job_summary
from orchestrator.common.query_params import NoQuery, Query, QueryError
from orchestrator.jobs.dispatcher import QueueFull
from orchestrator.jobs.store import Job, JobStatus
from orchestrator.jobs.submit import Decoded, InputImageRefused, Submission, SubmitRefused
from orchestrator.store.input_checks import InputRefused
from orchestrator.store.outputs import OutputStore

JOB_ID = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
PRIORITY_RANGE = (-100, 100)
MAX_LIST = 500
# Image file bytes one `inline=true` answer may carry (base64 makes the JSON a third larger): the whole
# answer is built in memory, so a 32-image job of large PNGs is fetched from `images[].url` instead.
INLINE_LIMIT = 64 * 1024 * 1024


class SubmitQuery(Query):
    id: Annotated[str, msgspec.Meta(pattern=JOB_ID, description=(
        "your id for the job (1-64 of A-Za-z0-9._-, starting with a letter or digit); the same id again "
        "returns the first job"))] | None = None
    priority: Annotated[int, msgspec.Meta(ge=PRIORITY_RANGE[0], le=PRIORITY_RANGE[1],
                                          description="higher runs first, then first come")] = 0
    webhook_url: Annotated[str, msgspec.Meta(description="POSTed the whole job, signed, when it ends")] | None = None
    wait: Annotated[bool, msgspec.Meta(description="answer only when the job has ended, with the whole job")] = False
    inline: Annotated[bool, msgspec.Meta(description="with wait=true: each image file base64 in images[].data")] = False

    def check(self) -> None:
        if self.inline and not self.wait:
            raise QueryError("inline", "inline=true needs wait=true: a job just queued has no images yet "
                                       "(GET /v1/jobs/{id}?inline=true fetches them once it is done)", ["wait"])


class ListQuery(Query):
    status: Annotated[JobStatus, msgspec.Meta(description="only jobs in this state")] | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=MAX_LIST, description="page size")] = 50
    cursor: Annotated[str, msgspec.Meta(description="next_cursor of the previous page")] | None = None

    def check(self) -> None:
        if self.cursor is not None and (not self.cursor.isdigit() or int(self.cursor) >= 2**63):
            raise QueryError("cursor", "not a cursor this API returned")  # sqlite integers are 64-bit


class JobQuery(Query):
    inline: Annotated[bool, msgspec.Meta(description="include each image file as base64")] = False


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


def _decode(body: bytes) -> Decoded:
    request, fmt = decode_request(body)
    return Decoded(request=request, request_format=fmt)


@takes(SubmitQuery)
async def submit_job(request: Request, query: SubmitQuery) -> Response:
    svc = services(request)
    try:
        if media_type(request.headers.get("content-type", "")) == MULTIPART:
            body = await job_body(request, svc.inputs)
        else:
            body = await request.body()
        existing, created = await svc.submitter.submit(Submission(
            body=body, decode=_decode, job_id=query.id, priority=query.priority, webhook_url=query.webhook_url))
    except (FormRefused, InputRefused, InputImageRefused) as exc:  # a bad image or form: 400, as for uploads
        return error_response(400, exc.message, exc.field, exc.suggestions)
    except (BodyError, SubmitRefused) as exc:
        return error_response(422, exc.message, exc.field, exc.suggestions)
    except QueueFull as exc:
        return error_response(429, str(exc), None, headers={"Retry-After": str(exc.retry_after)})
    if query.wait:
        done = await svc.dispatcher.wait_done(existing.id)
        return await _inline_view(request, done) if query.inline else json_response(svc.dispatcher.view(done))
    accepted = JobAccepted(id=existing.id, status=existing.status, position=svc.jobs.position(existing),
                           created=created)
    return json_response(accepted, 202 if created else 200, {"Location": f"/v1/jobs/{existing.id}"})


@takes(JobQuery)
async def get_job(request: Request, query: JobQuery) -> Response:
    svc = services(request)
    job = svc.jobs.get(request.path_params["id"])
    if job is None:
        return _not_found(request.path_params["id"])
    return await _inline_view(request, job) if query.inline else json_response(svc.dispatcher.view(job))


@takes(ListQuery)
async def list_jobs(request: Request, query: ListQuery) -> Response:
    svc = services(request)
    cursor = int(query.cursor) if query.cursor is not None else None
    jobs, next_cursor = svc.jobs.list(status=query.status, limit=query.limit, cursor=cursor)
    summaries = [job_summary(j, svc.jobs.position(j)) for j in jobs]
    return json_response(JobList(jobs=summaries, next_cursor=str(next_cursor) if next_cursor else None))


@takes(NoQuery)
async def cancel_job(request: Request) -> Response:
    result = await services(request).dispatcher.cancel(request.path_params["id"])
    return _not_found(request.path_params["id"]) if result is None else json_response(result)


@takes(NoQuery)
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
