"""Fooocus-API's HTTP API, so its clients (scripts, and clients generated from its OpenAPI document) work
against remgo unchanged (docs/api-fooocus.md says what is honoured and what is refused).

POST /v1/generation/text-to-image            JSON CommonRequest
POST /v1/generation/image-upscale-vary       multipart form: input_image file, the fields as text
POST /v1/generation/image-inpaint-outpaint   multipart form: input_image, input_mask files
POST /v1/generation/image-prompt             multipart form: as inpaint-outpaint, and cn_img1…4 (image prompts)
POST /v2/generation/{text-to-image-with-ip, image-upscale-vary, image-inpaint-outpaint, image-prompt}  JSON
     each answers a list of {base64, url, seed, finish_reason} when the job ends, or at once an
     AsyncJobResponse with `async_process`, or the first image as PNG bytes with `Accept: image/png`
POST /v1/generation/stop    GET /v1/generation/query-job, job-queue, job-history
GET  /v1/engines/all-models, /v1/engines/styles    POST /v1/engines/refresh-models
GET  /files/{date}/{name}   GET /ping

Jobs go through the Submitter like every face's: the same queue, normalizer, history and events. A job of
any face can be queried here by its id. Refusals carry FastAPI's `detail` and remgo's `error` (errors.py).
"""

from __future__ import annotations

import asyncio
import io
from typing import Annotated, Any

import msgspec
from PIL import Image
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Route

from orchestrator.api.query import takes
from orchestrator.api.request_guard import MULTIPART, media_type
from orchestrator.api.responses import json_response, services
from orchestrator.catalog import ModelKind
from orchestrator.common.query_params import KeyQuery, NoQuery, Query, QueryError
from orchestrator.compat.fooocus_api.errors import Refused, fooocus_path, query_refusal, refusal
from orchestrator.compat.fooocus_api.form import read_form
from orchestrator.compat.fooocus_api.mapping import REQUEST_FORMAT, SHAPES, decode, job_type, to_request
from orchestrator.compat.fooocus_api.shapes import IMAGE_FIELDS
from orchestrator.compat.fooocus_api.url_inputs import replace_prompt_urls, replace_urls
from orchestrator.compat.fooocus_api.views import (
    FinishReason,
    HistoryResponse,
    ModelNames,
    QueueInfo,
    StopAnswer,
    async_job,
    history_info,
    image_results,
    not_found,
    queue_full,
    wants_base64,
)
from orchestrator.compat.fooocus_api.webhooks import watches, webhook_problem
from orchestrator.jobs.dispatcher import QueueFull
from orchestrator.jobs.store import TERMINAL, Job, JobStatus
from orchestrator.jobs.submit import Decoded, Submission, SubmitRefused
from orchestrator.store.input_checks import MEDIA_TYPES

PNG = "image/png"
_CONVERTIBLE = {"image/png": "PNG", "image/jpeg": "JPEG", "image/jpg": "JPEG", "image/webp": "WEBP"}
_FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}


class GenerateQuery(Query):
    accept: Annotated[str, msgspec.Meta(description="overrides the Accept header: image/png answers the "
                                                    "image's bytes")] | None = None


class QueryJobQuery(Query):
    job_id: Annotated[str, msgspec.Meta(description="the job's id", max_length=200)]
    require_step_preview: Annotated[bool, msgspec.Meta(description="the latest preview, base64 JPEG")] = False


class HistoryQuery(Query):
    job_id: Annotated[str, msgspec.Meta(description="only this job", max_length=200)] | None = None
    page: Annotated[int, msgspec.Meta(ge=0, le=2**31, description="page of finished jobs, from 0")] = 0
    page_size: Annotated[int, msgspec.Meta(ge=1, le=1000, description="finished jobs per page")] = 20
    delete: Annotated[bool, msgspec.Meta(description="not supported: delete images on /v1/history")] = False

    def check(self) -> None:
        if self.delete:
            raise QueryError("delete", "deleting through job-history is not supported here; delete the images "
                                       "with DELETE /v1/history/{id}")


def _refused(exc: Refused | SubmitRefused, prompt_slots: tuple[int, ...] = ()) -> Response:
    status = exc.status if isinstance(exc, Refused) else 422
    field = exc.field if isinstance(exc, Refused) else fooocus_path(exc.field, prompt_slots)
    return refusal(status, exc.message, field, exc.suggestions)


async def _document(request: Request, route: str, form: bool, image_prompts: bool) -> tuple[Any, bytes | None]:
    """The body as Fooocus-API's JSON document, and the bytes to keep with the job when they are the body's."""
    svc = services(request)
    if form:
        media = media_type(request.headers.get("content-type", ""))
        if media != MULTIPART:
            raise Refused("Content-Type", f"this route takes a {MULTIPART} form (its /v2 twin takes JSON), got "
                                          f"{media or 'no Content-Type'}", status=415)
        return await read_form(request, SHAPES[route], svc.inputs, image_prompts=image_prompts), None
    raw = await request.body()
    if not raw.strip():
        raise Refused("$", "the body is empty; send the request as a JSON object")
    try:
        decoded = await run_in_threadpool(msgspec.json.decode, raw) if len(raw) > 2**20 else msgspec.json.decode(raw)
    except (msgspec.DecodeError, RecursionError) as exc:
        raise Refused("$", f"not valid JSON: {exc}") from None
    return decoded, raw


def _read_file(svc: Any) -> Any:
    def read(relpath: str) -> bytes | None:
        path = svc.outputs.resolve(relpath)
        return path.read_bytes() if path is not None else None

    return read


def _as_png(svc: Any, job: Job) -> bytes | None:
    record = next((r for r in job.images if r.status == "done" and r.relpath), None)
    data = _read_file(svc)(record.relpath) if record is not None else None
    if data is None or record is None or record.format == "png":
        return data
    with Image.open(io.BytesIO(data)) as image:
        out = io.BytesIO()
        image.save(out, format="PNG")
        return out.getvalue()


async def _generate(request: Request, query: GenerateQuery, route: str, *, form: bool = False,
                    image_prompts: bool = False) -> Response:
    svc = services(request)
    base = str(request.base_url)
    png = (query.accept or request.headers.get("accept") or "").strip().lower() == PNG
    slots: tuple[int, ...] = ()
    try:
        document, raw = await _document(request, route, form, image_prompts)
        if isinstance(document, dict) and await replace_urls(document, IMAGE_FIELDS,
                                                             svc.settings.fooocus_api_url_hosts, svc.inputs):
            raw = None
        if isinstance(document, dict) and await replace_prompt_urls(document, svc.settings.fooocus_api_url_hosts,
                                                                    svc.inputs):
            raw = None
        req = decode(document, SHAPES[route], strict=not form)
        mapped = to_request(req, image_number=1 if png else None)  # one image in PNG mode, as Fooocus-API
        slots = mapped.prompt_slots
        webhook = req.webhook_url.strip() if req.webhook_url else None
        if webhook and (problem := await webhook_problem(webhook, svc)):
            raise Refused("$.webhook_url", problem)
        body = raw if raw is not None else msgspec.json.encode(document)
        decoded = Decoded(request=mapped.request, request_format=REQUEST_FORMAT, notes=mapped.notes)
        job, _ = await svc.submitter.submit(Submission(body=body, decode=lambda _: decoded))
    except (Refused, SubmitRefused) as exc:
        return _refused(exc, slots)
    except QueueFull as exc:
        retry = {"Retry-After": str(exc.retry_after)}
        if png:
            return refusal(409, f"{FinishReason.queue_is_full.value}: {exc}", None, headers=retry)
        waiting, results = queue_full(job_type(mapped.request))
        return json_response(waiting if req.async_process else results, headers=retry)
    if webhook:
        watches(request.app.state).watch(svc, job.id, webhook, base)
    if req.async_process and not png:
        return json_response(async_job(job, svc.dispatcher.progress_of(job), svc.jobs.position(job), base,
                                       preview=False))
    done = await svc.dispatcher.wait_done(job.id)
    assert done is not None  # the job was just stored
    if png:
        data = await run_in_threadpool(_as_png, svc, done)
        if data is not None:
            return Response(data, media_type=PNG)
        if done.status is JobStatus.cancelled:
            return refusal(400, f"{FinishReason.user_cancel.value}: the job was stopped", None)
        return refusal(500, f"{FinishReason.error.value}: {done.error.message if done.error else 'no image'}", None)
    read = _read_file(svc) if req.require_base64 else None
    return json_response(await run_in_threadpool(image_results, done, base, read))


@takes(GenerateQuery, query_refusal)
async def text_to_image(request: Request, query: GenerateQuery) -> Response:
    """Fooocus-API v1: text to image (JSON)."""
    return await _generate(request, query, "text-to-image")


@takes(GenerateQuery, query_refusal)
async def upscale_vary_form(request: Request, query: GenerateQuery) -> Response:
    """Fooocus-API v1: upscale or vary (multipart form)."""
    return await _generate(request, query, "image-upscale-vary", form=True)


@takes(GenerateQuery, query_refusal)
async def inpaint_outpaint_form(request: Request, query: GenerateQuery) -> Response:
    """Fooocus-API v1: inpaint or outpaint (multipart form)."""
    return await _generate(request, query, "image-inpaint-outpaint", form=True)


@takes(GenerateQuery, query_refusal)
async def image_prompt_form(request: Request, query: GenerateQuery) -> Response:
    """Fooocus-API v1: image prompts (cn_img1…4 files), with inpaint or outpaint when input_image is given
    (multipart form)."""
    return await _generate(request, query, "image-prompt", form=True, image_prompts=True)


@takes(GenerateQuery, query_refusal)
async def text_to_image_ip(request: Request, query: GenerateQuery) -> Response:
    """Fooocus-API v2: text to image with image prompts (JSON)."""
    return await _generate(request, query, "text-to-image-with-ip")


@takes(GenerateQuery, query_refusal)
async def upscale_vary_json(request: Request, query: GenerateQuery) -> Response:
    """Fooocus-API v2: upscale or vary (JSON, the image inline)."""
    return await _generate(request, query, "image-upscale-vary")


@takes(GenerateQuery, query_refusal)
async def inpaint_outpaint_json(request: Request, query: GenerateQuery) -> Response:
    """Fooocus-API v2: inpaint or outpaint (JSON, the images inline)."""
    return await _generate(request, query, "image-inpaint-outpaint")


@takes(GenerateQuery, query_refusal)
async def image_prompt_json(request: Request, query: GenerateQuery) -> Response:
    """Fooocus-API v2: image prompts, with inpaint or outpaint when input_image is given (JSON)."""
    return await _generate(request, query, "image-prompt")


@takes(NoQuery, query_refusal)
async def stop(request: Request) -> Response:
    """Fooocus-API: stop the running jobs sent through these routes (queued jobs keep their place)."""
    if (await request.body()).strip() not in (b"", b"{}"):
        return refusal(400, "POST /v1/generation/stop takes no body", "$")
    svc = services(request)
    running, _ = svc.jobs.list(status=JobStatus.running, limit=10_000)
    await asyncio.gather(*(svc.dispatcher.cancel(job.id, wait=0) for job in running
                           if job.request_format == REQUEST_FORMAT))
    return json_response(StopAnswer(msg="success"))


@takes(QueryJobQuery, query_refusal)
async def query_job(request: Request, query: QueryJobQuery) -> Response:
    """Fooocus-API: one job (of any face) as AsyncJobResponse; 404 with job_type "Not Found"."""
    svc = services(request)
    job = svc.jobs.get(query.job_id)
    if job is None:  # Fooocus-API's 404 body, with remgo's error object beside it
        error = {"message": f"no job with id {query.job_id!r}", "field": "job_id", "suggestions": []}
        return json_response({**msgspec.to_builtins(not_found()), "error": error}, 404)
    read = _read_file(svc) if job.status in TERMINAL and wants_base64(job) else None
    progress = svc.dispatcher.progress_of(job)
    answer = await run_in_threadpool(lambda: async_job(job, progress, svc.jobs.position(job), str(request.base_url),
                                                       preview=query.require_step_preview, read=read))
    return json_response(answer)


@takes(NoQuery, query_refusal)
async def job_queue(request: Request) -> Response:
    """Fooocus-API: how many jobs wait or run, how many ended, the newest job's id (the queue every face shares)."""
    svc = services(request)
    counts = svc.jobs.counts()
    newest, _ = svc.jobs.list(limit=1)
    return json_response(QueueInfo(running_size=counts[JobStatus.queued] + counts[JobStatus.running],
                                   finished_size=sum(counts[s] for s in TERMINAL),
                                   last_job_id=newest[0].id if newest else None))


def _history(svc: Any, query: HistoryQuery) -> HistoryResponse:
    if query.job_id is not None:
        job = svc.jobs.get(query.job_id)
        jobs = [job] if job is not None else []
        return HistoryResponse(queue=[history_info(j) for j in jobs if j.status not in TERMINAL],
                               history=[history_info(j) for j in jobs if j.status in TERMINAL])
    queue = [*svc.jobs.list(status=JobStatus.running, limit=10_000)[0], *svc.jobs.list(status=JobStatus.queued,
                                                                                       limit=10_000)[0]]
    queue.sort(key=lambda j: j.seq)
    skip, ended, cursor = query.page * query.page_size, [], None
    while len(ended) < skip + query.page_size:
        page, cursor = svc.jobs.list(limit=500, cursor=cursor)
        ended += [j for j in page if j.status in TERMINAL]
        if cursor is None:
            break
    return HistoryResponse(queue=[history_info(j) for j in queue],
                           history=[history_info(j) for j in ended[skip:skip + query.page_size]])


@takes(HistoryQuery, query_refusal)
async def job_history(request: Request, query: HistoryQuery) -> Response:
    """Fooocus-API: jobs waiting or running (oldest first), and ended ones (newest first, by page)."""
    return json_response(await run_in_threadpool(_history, services(request), query))


def _model_names(svc: Any) -> ModelNames:
    snap = svc.catalog.snapshot()
    return ModelNames(model_filenames=list(snap.models[ModelKind.checkpoints]),
                      lora_filenames=list(snap.models[ModelKind.loras]))


@takes(NoQuery, query_refusal)
async def all_models(request: Request) -> Response:
    """Fooocus-API: the checkpoint and LoRA file names."""
    return json_response(_model_names(services(request)))


@takes(NoQuery, query_refusal)
async def refresh_models(request: Request) -> Response:
    """Fooocus-API: scan the model folders again, then as all-models."""
    svc = services(request)
    await run_in_threadpool(svc.catalog.rescan)
    return json_response(_model_names(svc))


@takes(NoQuery, query_refusal)
async def styles(request: Request) -> Response:
    """Fooocus-API: every style name."""
    return json_response([s["name"] for s in services(request).catalog.styles_list()])


def _converted(path: Any, fmt: str) -> bytes:
    with Image.open(path) as image:
        out = io.BytesIO()
        (image.convert("RGB") if fmt == "JPEG" else image).save(out, format=fmt)
        return out.getvalue()


@takes(KeyQuery, query_refusal)
async def output_file(request: Request) -> Response:
    """Fooocus-API: an image by the URL its results carry; `Accept: image/png|jpeg|webp` converts it."""
    svc = services(request)
    path = await run_in_threadpool(svc.outputs.resolve, request.path_params["path"])  # `{date}/{name}`
    if path is None:
        return refusal(404, "no such image", "path")
    wanted = _CONVERTIBLE.get((request.headers.get("accept") or "").strip().lower())
    if wanted is None or wanted == _FORMATS.get(path.suffix.lstrip(".").lower().replace("jpg", "jpeg")):
        return FileResponse(path)
    media = {"PNG": "png", "JPEG": "jpeg", "WEBP": "webp"}[wanted]
    return Response(await run_in_threadpool(_converted, path, wanted), media_type=MEDIA_TYPES[media])


@takes(NoQuery, query_refusal)
async def ping(request: Request) -> Response:
    """Fooocus-API: "pong" (the server answers; workers may still be loading)."""
    return json_response("pong")


def routes() -> list[BaseRoute]:
    generation = [
        ("/v1/generation/text-to-image", text_to_image), ("/v1/generation/image-upscale-vary", upscale_vary_form),
        ("/v1/generation/image-inpaint-outpaint", inpaint_outpaint_form),
        ("/v1/generation/image-prompt", image_prompt_form),
        ("/v2/generation/text-to-image-with-ip", text_to_image_ip),
        ("/v2/generation/image-upscale-vary", upscale_vary_json),
        ("/v2/generation/image-inpaint-outpaint", inpaint_outpaint_json),
        ("/v2/generation/image-prompt", image_prompt_json),
    ]
    return [
        *(Route(path, handler, methods=["POST"]) for path, handler in generation),
        Route("/v1/generation/stop", stop, methods=["POST"]),
        Route("/v1/generation/query-job", query_job, methods=["GET"]),
        Route("/v1/generation/job-queue", job_queue, methods=["GET"]),
        Route("/v1/generation/job-history", job_history, methods=["GET"]),
        Route("/v1/engines/all-models", all_models, methods=["GET"]),
        Route("/v1/engines/refresh-models", refresh_models, methods=["POST"]),
        Route("/v1/engines/styles", styles, methods=["GET"]),
        Route("/files/{path:path}", output_file, methods=["GET", "HEAD"]),
        Route("/ping", ping, methods=["GET"]),
    ]
