"""AUTOMATIC1111's web API (`/sdapi/v1/…`) over remgo's job queue, so A1111 clients (webuiapi, scripts,
front-ends) work against remgo.

POST txt2img, img2img          a job through the same Submitter as POST /v1/jobs; answers when it has ended
GET  progress                  the face's running job;  POST interrupt / skip: stop it / its current image
GET  options  POST options     sd_model_checkpoint, sd_vae, CLIP_stop_at_last_layers (+ read-only facts)
GET  sd-models, sd-vae, samplers, schedulers, upscalers, loras, embeddings, prompt-styles, scripts
POST png-info, refresh-checkpoints, extra-single-image (a Lanczos 2× through remgo's Upscale)

Every field is honoured or refused with a 422 naming it (request_mapping.py; docs/api-a1111.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from contract.request import GenerateRequest, UovMethod
from orchestrator.api.query import takes
from orchestrator.api.request_body import NESTED_TOO_DEEPLY, BodyError, validation_error
from orchestrator.api.responses import json_response, services
from orchestrator.catalog import CatalogError
from orchestrator.common.query_params import NoQuery, Query, QueryError
from orchestrator.compat.a1111 import png_info as png_info_text
from orchestrator.compat.a1111 import progress as progress_shape
from orchestrator.compat.a1111 import responses as shapes
from orchestrator.compat.a1111.face_options import FaceOptions, OptionRefused
from orchestrator.compat.a1111.img2img_mapping import img2img
from orchestrator.compat.a1111.request_mapping import Mapped, MappingRefused, a1111_field, txt2img
from orchestrator.compat.a1111.request_models import (
    ExtrasSingleImageRequest,
    Img2ImgRequest,
    PngInfoRequest,
    Txt2ImgRequest,
)
from orchestrator.compat.a1111.sampler_names import samplers_payload, schedulers_payload
from orchestrator.jobs.dispatcher import QueueFull
from orchestrator.jobs.store import Job, JobStatus
from orchestrator.jobs.submit import Decoded, Submission, SubmitRefused
from orchestrator.normalize.image_input import shape_ceil
from orchestrator.store.input_checks import InputRefused, read_header
from orchestrator.store.input_refs import decode_inline

BASE = "/sdapi/v1"
REQUEST_FORMAT = "a1111"
EXTRAS_FACTOR = 2.0  # the one factor remgo's Upscale enlarges by without diffusion (Upscale (Fast 2x))


@dataclass
class FaceState:
    options: FaceOptions = field(default_factory=FaceOptions)
    interrupted: set[str] = field(default_factory=set)
    skipped: set[str] = field(default_factory=set)


def _face(request: Request) -> FaceState:
    state = getattr(request.app.state, "a1111_face", None)
    if state is None:
        state = request.app.state.a1111_face = FaceState()
    return state


def refusal(exc: QueryError) -> Response:
    return shapes.error(422, exc.message, exc.field, suggestions=exc.suggestions)


def _default_checkpoint(request: Request) -> str | None:
    svc = services(request)
    try:
        return svc.catalog.preset(svc.settings.default_preset).values.base_model_name
    except CatalogError:
        return None


def _decode(kind: type, body: bytes) -> Any:
    if not body.strip():
        raise BodyError("$", "the body is empty; send the request as a JSON object")
    try:
        return msgspec.json.decode(body, type=kind)
    except msgspec.ValidationError as exc:
        raise validation_error(exc, kind, body) from None
    except msgspec.DecodeError as exc:
        raise BodyError("$", f"not valid JSON: {exc}") from None
    except RecursionError:
        raise BodyError("$", f"not valid JSON: {NESTED_TOO_DEEPLY}") from None


def _field(path: str) -> str:
    return path.removeprefix("$.").removeprefix("$") or "body"


async def _running(request: Request) -> Job | None:
    """The oldest running job of this face."""
    jobs, _ = services(request).jobs.list(status=JobStatus.running, limit=10_000)
    mine = [j for j in jobs if j.request_format == REQUEST_FORMAT]
    return min(mine, key=lambda j: j.started_at or j.created_at) if mine else None


def _read_files(svc: Any, job: Job) -> tuple[list[int], list[bytes]]:
    indexes, files = [], []
    for record in job.images:
        path = svc.outputs.resolve(record.relpath) if record.status == "done" and record.relpath else None
        if path is None:
            continue
        try:
            files.append(path.read_bytes())
        except OSError:
            continue
        indexes.append(record.index)
    return indexes, files


async def _submit(request: Request, body: bytes, mapped: Mapped) -> Job | Response:
    svc = services(request)
    decoded = Decoded(request=mapped.request, request_format=REQUEST_FORMAT, notes=tuple(mapped.notes))
    try:
        job, _ = await svc.submitter.submit(Submission(body=body, decode=lambda _: decoded, job_id=mapped.job_id))
    except (BodyError, SubmitRefused) as exc:
        return shapes.error(422, exc.message, a1111_field(exc.field), suggestions=exc.suggestions)
    except QueueFull as exc:
        return shapes.error(429, str(exc), None)
    return job


async def _generate(request: Request, kind: type, mapping: Callable[..., Mapped]) -> Response:
    svc = services(request)
    face = _face(request)
    raw = await request.body()
    try:
        body = await run_in_threadpool(_decode, kind, raw)
        mapped = await run_in_threadpool(mapping, body, svc.catalog, face.options)
    except BodyError as exc:
        return shapes.error(422, exc.message, _field(exc.field), suggestions=exc.suggestions)
    except MappingRefused as exc:
        return shapes.error(422, exc.message, exc.field, suggestions=exc.suggestions)
    submitted = await _submit(request, raw, mapped)
    if isinstance(submitted, Response):
        return submitted
    job = await svc.dispatcher.wait_done(submitted.id)
    assert job is not None
    face.interrupted.discard(job.id)
    face.skipped.discard(job.id)
    if job.status is JobStatus.failed:
        message = job.error.message if job.error else "the job failed"
        return shapes.error(500, message, job.error.field if job.error else None, job_id=job.id)
    if mapped.options_after:
        face.options.apply(svc.catalog, mapped.options_after)
    done, files = await run_in_threadpool(_read_files, svc, job)
    return json_response({"images": shapes.images_payload(files, body.send_images is not False),
                          "parameters": shapes.parameters(body, mapped),
                          "info": shapes.info(body, mapped, job, svc.catalog, done)})


@takes(NoQuery, refusal)
async def text2img(request: Request) -> Response:
    return await _generate(request, Txt2ImgRequest, txt2img)


@takes(NoQuery, refusal)
async def image2img(request: Request) -> Response:
    return await _generate(request, Img2ImgRequest, img2img)


class ProgressQuery(Query):
    skip_current_image: bool = False


@takes(ProgressQuery, refusal)
async def progress(request: Request, query: ProgressQuery) -> Response:
    job = await _running(request)
    face = _face(request)
    if job is None:
        return json_response(progress_shape.payload(None, None))
    current = services(request).dispatcher.progress_of(job)
    return json_response(progress_shape.payload(job, current, interrupted=job.id in face.interrupted,
                                                skipped=job.id in face.skipped,
                                                with_image=not query.skip_current_image))


@takes(NoQuery, refusal)
async def interrupt(request: Request) -> Response:
    """Stop the running job of this face; its images made so far are what its txt2img call answers."""
    job = await _running(request)
    if job is not None:
        _face(request).interrupted.add(job.id)
        await services(request).dispatcher.cancel(job.id, wait=0)
    return json_response({})


@takes(NoQuery, refusal)
async def skip(request: Request) -> Response:
    job = await _running(request)
    if job is not None:
        _face(request).skipped.add(job.id)
        await services(request).dispatcher.skip(job.id)
    return json_response({})


@takes(NoQuery, refusal)
async def get_options(request: Request) -> Response:
    svc = services(request)
    return json_response(_face(request).options.payload(svc.catalog, _default_checkpoint(request)))


@takes(NoQuery, refusal)
async def set_options(request: Request) -> Response:
    try:
        values = msgspec.json.decode(await request.body() or b"{}")
    except (msgspec.DecodeError, RecursionError) as exc:
        return shapes.error(422, f"not valid JSON: {exc}", "body")
    if not isinstance(values, dict):
        return shapes.error(422, "send the options as a JSON object", "body")
    try:
        _face(request).options.apply(services(request).catalog, values)
    except OptionRefused as exc:
        return shapes.error(422, exc.message, exc.field, suggestions=exc.suggestions)
    return json_response(None)


def _listing(build: Callable[[Any], Any]) -> Callable[[Request], Any]:
    @takes(NoQuery, refusal)
    async def endpoint(request: Request) -> Response:
        return json_response(build(services(request).catalog))

    endpoint.__name__ = build.__name__
    return endpoint


@takes(NoQuery, refusal)
async def samplers(request: Request) -> Response:
    catalog = services(request).catalog
    return json_response(samplers_payload(set(catalog.samplers), set(catalog.schedulers)))


@takes(NoQuery, refusal)
async def schedulers(request: Request) -> Response:
    return json_response(schedulers_payload(set(services(request).catalog.schedulers)))


@takes(NoQuery, refusal)
async def upscalers(request: Request) -> Response:
    return json_response(shapes.UPSCALERS)


@takes(NoQuery, refusal)
async def scripts(request: Request) -> Response:
    return json_response({"txt2img": [], "img2img": []})


@takes(NoQuery, refusal)
async def refresh_checkpoints(request: Request) -> Response:
    await run_in_threadpool(services(request).catalog.rescan)
    return json_response(None)


@takes(NoQuery, refusal)
async def png_info(request: Request) -> Response:
    raw = await request.body()
    try:
        body = await run_in_threadpool(_decode, PngInfoRequest, raw)
        data, _ = await run_in_threadpool(decode_inline, body.image, "image")
    except BodyError as exc:
        return shapes.error(422, exc.message, _field(exc.field), suggestions=exc.suggestions)
    except InputRefused as exc:
        return shapes.error(422, exc.message, "image")
    return json_response(await run_in_threadpool(png_info_text.png_info, data))


def _extras_request(body: ExtrasSingleImageRequest) -> GenerateRequest:
    """A1111's extras upscale as remgo's Upscale (Fast 2x): a plain Lanczos enlargement, no diffusion."""
    for name in ("gfpgan_visibility", "codeformer_visibility"):
        if getattr(body, name):
            raise MappingRefused(name, "face restoration is not run here yet; send 0")
    if body.upscaler_2 not in ("None", "") and body.extras_upscaler_2_visibility:
        raise MappingRefused("upscaler_2", "a second upscaler is not run here; send None")
    if body.upscaler_1 != "Lanczos":
        raise MappingRefused("upscaler_1", f"{body.upscaler_1!r}: the upscaler here is Lanczos "
                                           "(no super-resolution model is run)")
    if body.resize_mode != 0:
        raise MappingRefused("resize_mode", "only 0 (scale by upscaling_resize) is run here")
    if body.upscaling_resize != EXTRAS_FACTOR:
        raise MappingRefused("upscaling_resize", "remgo's Upscale enlarges without diffusion by 2 only; send 2")
    try:
        data, _ = decode_inline(body.image, "image")
        header = read_header(data, "image")
    except InputRefused as exc:
        raise MappingRefused("image", exc.message) from None
    if shape_ceil(header.width * EXTRAS_FACTOR, header.height * EXTRAS_FACTOR) < 1024:
        raise MappingRefused("image", f"a {header.width}×{header.height} image: remgo's Upscale makes at least "
                                      "1024 pixels a side on average, so 2× of it is not an exact 2× here")
    return GenerateRequest(uov_method=UovMethod.upscale_fast, uov_input_image=body.image, upscale_model="None",
                           upscale_fallback=True, image_number=1, image_seed=0, seed_random=False,
                           style_selections=[], loras=[], save_metadata_to_images=True)


@takes(NoQuery, refusal)
async def extra_single_image(request: Request) -> Response:
    svc = services(request)
    raw = await request.body()
    try:
        body = await run_in_threadpool(_decode, ExtrasSingleImageRequest, raw)
        generate = await run_in_threadpool(_extras_request, body)
    except BodyError as exc:
        return shapes.error(422, exc.message, _field(exc.field), suggestions=exc.suggestions)
    except MappingRefused as exc:
        return shapes.error(422, exc.message, exc.field)
    decoded = Decoded(request=generate, request_format=REQUEST_FORMAT)
    try:
        job, _ = await svc.submitter.submit(Submission(body=raw, decode=lambda _: decoded))
    except (BodyError, SubmitRefused) as exc:
        field_name = "image" if "uov_input_image" in exc.field else _field(exc.field)
        return shapes.error(422, exc.message, field_name, suggestions=exc.suggestions)
    except QueueFull as exc:
        return shapes.error(429, str(exc), None)
    done = await svc.dispatcher.wait_done(job.id)
    assert done is not None
    if done.status is not JobStatus.succeeded:
        message = done.error.message if done.error else f"the job {done.status.value}"
        return shapes.error(500, message, None, job_id=done.id)
    _, files = await run_in_threadpool(_read_files, svc, done)
    image = shapes.images_payload(files[:1], body.show_extras_results)
    return json_response({"html_info": "", "image": image[0] if image else None})


def routes() -> list[BaseRoute]:
    return [
        Route(f"{BASE}/txt2img", text2img, methods=["POST"]),
        Route(f"{BASE}/img2img", image2img, methods=["POST"]),
        Route(f"{BASE}/progress", progress, methods=["GET"]),
        Route(f"{BASE}/interrupt", interrupt, methods=["POST"]),
        Route(f"{BASE}/skip", skip, methods=["POST"]),
        Route(f"{BASE}/options", get_options, methods=["GET"]),
        Route(f"{BASE}/options", set_options, methods=["POST"]),
        Route(f"{BASE}/sd-models", _listing(shapes.sd_models), methods=["GET"]),
        Route(f"{BASE}/sd-vae", _listing(shapes.sd_vaes), methods=["GET"]),
        Route(f"{BASE}/samplers", samplers, methods=["GET"]),
        Route(f"{BASE}/schedulers", schedulers, methods=["GET"]),
        Route(f"{BASE}/upscalers", upscalers, methods=["GET"]),
        Route(f"{BASE}/loras", _listing(shapes.loras), methods=["GET"]),
        Route(f"{BASE}/embeddings", _listing(shapes.embeddings), methods=["GET"]),
        Route(f"{BASE}/prompt-styles", _listing(shapes.prompt_styles), methods=["GET"]),
        Route(f"{BASE}/scripts", scripts, methods=["GET"]),
        Route(f"{BASE}/refresh-checkpoints", refresh_checkpoints, methods=["POST"]),
        Route(f"{BASE}/png-info", png_info, methods=["POST"]),
        Route(f"{BASE}/extra-single-image", extra_single_image, methods=["POST"]),
    ]
