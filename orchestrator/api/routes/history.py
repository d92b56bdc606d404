"""The history API: list (keyset pages, full-text search), one image, star, delete, export, reconcile.

GET    /v1/history?limit=&cursor=&q=&model=&since=&until=&starred=
GET    /v1/history/{id}            PATCH {"starred": bool}          DELETE (file + row)
GET    /v1/history/{id}/file       GET /v1/history/{id}/thumb       (any image, also imported in place)
POST   /v1/history/delete {"ids"}  POST /v1/history/export {"ids"} → ZIP stream
POST   /v1/history/reconcile
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from orchestrator.api.query import takes, v1_refusal
from orchestrator.api.request_body import NESTED_TOO_DEEPLY, BodyError, validation_error
from orchestrator.api.responses import error_response, json_response
from orchestrator.common.query_params import KeyQuery, NoQuery, QueryError
from orchestrator.store.history import scan as history_scan
from orchestrator.store.history.export import MAX_EXPORT, export_entries, zip_stream
from orchestrator.store.history.query import HistoryParams, HistoryQuery

ImageId = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class StarChange(msgspec.Struct, forbid_unknown_fields=True):
    starred: bool


class IdList(msgspec.Struct, forbid_unknown_fields=True):
    ids: Annotated[list[ImageId], msgspec.Meta(min_length=1, max_length=MAX_EXPORT)]


_error = error_response
_json = json_response


async def _body(request: Request, kind: type[msgspec.Struct]):
    """The JSON body as `kind`; BodyError names the field as a JSON path (`$.starred`)."""
    raw = await request.body()
    try:
        return msgspec.json.decode(raw, type=kind)
    except msgspec.ValidationError as exc:
        raise validation_error(exc, kind, raw) from None
    except msgspec.DecodeError as exc:
        raise BodyError("$", f"not valid JSON: {exc}") from None
    except RecursionError:
        raise BodyError("$", f"not valid JSON: {NESTED_TOO_DEEPLY}") from None


def _history(request: Request):
    return request.app.state.services.history


@takes(HistoryParams)
async def list_history(request: Request, params: HistoryParams) -> Response:
    try:
        query = HistoryQuery.of(params)
    except QueryError as exc:
        return v1_refusal(exc)
    page = await run_in_threadpool(_history(request).page, query)
    return _json({"items": page.items, "next_cursor": page.next_cursor, "limit": query.limit})


@takes(NoQuery)
async def get_item(request: Request) -> Response:
    item = await run_in_threadpool(_history(request).get, request.path_params["id"])
    return _error(404, "no such image", "id") if item is None else _json(item)


@takes(NoQuery)
async def patch_item(request: Request) -> Response:
    try:
        change = await _body(request, StarChange)
    except BodyError as exc:
        return _error(422, exc.message, exc.field, exc.suggestions)
    item = await run_in_threadpool(_history(request).set_starred, request.path_params["id"], change.starred)
    return _error(404, "no such image", "id") if item is None else _json(item)


@takes(NoQuery)
async def delete_item(request: Request) -> Response:
    result = await run_in_threadpool(_history(request).delete, [request.path_params["id"]])
    if result["missing"]:
        return _error(404, "no such image", "id")
    if result["failed"]:
        return _error(500, result["failed"][0]["error"])
    return _json({"deleted": result["deleted"]})


@takes(NoQuery)
async def delete_many(request: Request) -> Response:
    try:
        body = await _body(request, IdList)
    except BodyError as exc:
        return _error(422, exc.message, exc.field, exc.suggestions)
    return _json(await run_in_threadpool(_history(request).delete, body.ids))


@takes(NoQuery)
async def export_zip(request: Request) -> Response:
    try:
        body = await _body(request, IdList)
    except BodyError as exc:
        return _error(422, exc.message, exc.field, exc.suggestions)
    entries, missing = await run_in_threadpool(export_entries, _history(request), body.ids)
    if missing:
        return _error(404, f"no such image: {', '.join(missing[:20])}", "$.ids")
    name = datetime.now().strftime("remgo-history-%Y-%m-%d_%H-%M-%S.zip")
    return StreamingResponse(zip_stream(entries), media_type="application/zip",
                             headers={"Content-Disposition": f'attachment; filename="{name}"'})


@takes(NoQuery)
async def reconcile(request: Request) -> Response:
    return _json(await run_in_threadpool(history_scan.reconcile, _history(request)))


@takes(KeyQuery)
async def item_file(request: Request) -> Response:
    history = _history(request)
    row = await run_in_threadpool(history.row, request.path_params["id"])
    path = None if row is None else await run_in_threadpool(history.file_path, row)
    if path is None:
        return _error(404, "no such image", "id")
    return FileResponse(path)


@takes(KeyQuery)
async def item_thumb(request: Request) -> Response:
    history = _history(request)
    row = await run_in_threadpool(history.row, request.path_params["id"])
    try:
        path = None if row is None else await run_in_threadpool(history.thumbnail, row)
    except (OSError, ValueError) as exc:
        return _error(404, f"no thumbnail for this image ({exc})", "id")
    if path is None:
        return _error(404, "no such image", "id")
    return FileResponse(path, media_type="image/webp", headers={"Cache-Control": "no-cache"})


def routes() -> list[BaseRoute]:
    return [
        Route("/v1/history", list_history, methods=["GET"]),
        Route("/v1/history/delete", delete_many, methods=["POST"]),
        Route("/v1/history/export", export_zip, methods=["POST"]),
        Route("/v1/history/reconcile", reconcile, methods=["POST"]),
        Route("/v1/history/{id}", get_item, methods=["GET"]),
        Route("/v1/history/{id}", patch_item, methods=["PATCH"]),
        Route("/v1/history/{id}", delete_item, methods=["DELETE"]),
        Route("/v1/history/{id}/file", item_file, methods=["GET", "HEAD"]),
        Route("/v1/history/{id}/thumb", item_thumb, methods=["GET", "HEAD"]),
    ]
