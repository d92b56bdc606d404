"""Input images sent ahead of a job (the web page's previews; one file for several jobs).

POST /v1/uploads       the file as the body (Content-Type image/png, image/jpeg or image/webp), or
                       multipart/form-data with one file part `file` → 201 {upload_id, width, height,
                       format, bytes}; `{"upload_id": …}` then names it in a request's image fields
GET  /v1/uploads/{id}  the file

The same bytes twice give the same id (the sha256 of the file). Refusals are 400 naming `file` (a
multipart body), `$` (a raw body) or `Content-Type` (a raw body that says another format than it has).
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Route

from orchestrator.api.multipart import FormRefused, upload_file
from orchestrator.api.query import takes
from orchestrator.api.request_guard import IMAGE_MEDIA_TYPES, MULTIPART, media_type
from orchestrator.api.responses import error_response, json_response, services
from orchestrator.api.views import UploadView
from orchestrator.common.input_image import ResolvedImage
from orchestrator.common.query_params import KeyQuery, NoQuery
from orchestrator.store.input_checks import MEDIA_TYPES, InputRefused, read_header
from orchestrator.store.inputs import InputStore

# A stored file never changes under its name (its own hash).
_CACHE = "private, max-age=31536000, immutable"


def _put_raw(store: InputStore, data: bytes, declared: str) -> ResolvedImage:
    header = read_header(data, "$")
    if MEDIA_TYPES[header.format] != declared:
        raise InputRefused("Content-Type", f"the body is a {header.format.upper()} file but Content-Type says "
                                           f"{declared}; send {MEDIA_TYPES[header.format]}")
    return store.put(data, "$")


@takes(NoQuery)
async def post_upload(request: Request) -> Response:
    """Keep an input image; answers its upload_id."""
    store: InputStore = services(request).inputs
    media = media_type(request.headers.get("content-type", ""))
    try:
        if media == MULTIPART:
            found = await run_in_threadpool(store.put, await upload_file(request), "file")
        elif media in IMAGE_MEDIA_TYPES:
            found = await run_in_threadpool(_put_raw, store, await request.body(), media)
        else:
            return error_response(415, f"send the image file as the body ({', '.join(IMAGE_MEDIA_TYPES)}) or as "
                                       f"the part 'file' of {MULTIPART}, got {media or 'no Content-Type'}",
                                  "Content-Type")
    except (FormRefused, InputRefused) as exc:
        return error_response(400, exc.message, exc.field, exc.suggestions)
    view = UploadView(upload_id=found.sha256, width=found.width, height=found.height, format=found.format,
                      bytes=found.nbytes)
    return json_response(view, 201, {"Location": f"/v1/uploads/{found.sha256}"})


@takes(KeyQuery)
async def get_upload(request: Request) -> Response:
    """An input image kept by POST /v1/uploads (or given inline to a job), by its id."""
    store: InputStore = services(request).inputs
    path = await run_in_threadpool(store.path, request.path_params["id"])
    if path is None:
        return error_response(404, "no upload with this id", "id")
    fmt = path.suffix.removeprefix(".")
    return FileResponse(path, media_type=MEDIA_TYPES[fmt], headers={"Cache-Control": _CACHE})


def routes() -> list[BaseRoute]:
    return [
        Route("/v1/uploads", post_upload, methods=["POST"]),
        Route("/v1/uploads/{id}", get_upload, methods=["GET", "HEAD"]),
    ]
