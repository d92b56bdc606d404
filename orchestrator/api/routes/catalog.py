"""The catalog API: everything the UI offers, in one call or per resource, and a rescan.

GET  /v1/catalog                 models, styles, presets, sizes, performance, samplers … in one object
GET  /v1/models?kind=checkpoints  models of one kind (checkpoints, loras, vae, embeddings, upscale, controlnet)
GET  /v1/loras   GET /v1/vaes    GET /v1/styles (with their templates)
GET  /v1/presets                 GET /v1/presets/{name}
POST /v1/catalog/rescan          read the disk again (never done per request)
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from orchestrator.api.query import takes
from orchestrator.catalog import Catalog, CatalogError, ModelKind
from orchestrator.common.query_params import NoQuery, Query


class ModelsQuery(Query):
    kind: Annotated[ModelKind, msgspec.Meta(description="which models")] = ModelKind.checkpoints


def _catalog(request: Request) -> Catalog:
    return request.app.state.services.catalog


def _json(value: object, status: int = 200) -> Response:
    return Response(msgspec.json.encode(value), status_code=status, media_type="application/json")


def _error(status: int, message: str, field: str | None, suggestions: list[str] = ()) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "field": field, "suggestions": list(suggestions)}},
                        status_code=status)


@takes(NoQuery)
async def get_catalog(request: Request) -> Response:
    return _json(_catalog(request).summary())


@takes(ModelsQuery)
async def get_models(request: Request, query: ModelsQuery) -> Response:
    kind = query.kind
    catalog = _catalog(request)
    refused = [{"name": r.name, "reason": r.reason} for r in catalog.snapshot().refused if r.kind is kind]
    return _json({"kind": kind.value, "models": catalog.models_of(kind), "refused": refused})


@takes(NoQuery)
async def get_loras(request: Request) -> Response:
    return _json(_catalog(request).models_of(ModelKind.loras))


@takes(NoQuery)
async def get_vaes(request: Request) -> Response:
    return _json(_catalog(request).models_of(ModelKind.vae))


@takes(NoQuery)
async def get_styles(request: Request) -> Response:
    return _json(_catalog(request).styles_list())


@takes(NoQuery)
async def get_presets(request: Request) -> Response:
    return _json(_catalog(request).presets_list())


@takes(NoQuery)
async def get_preset(request: Request) -> Response:
    try:
        preset = _catalog(request).preset(request.path_params["name"], field="name")
    except CatalogError as exc:
        return _error(404, exc.message, exc.field, exc.suggestions)
    return _json(preset.public())


@takes(NoQuery)
async def rescan(request: Request) -> Response:
    catalog = _catalog(request)
    await run_in_threadpool(catalog.rescan)
    # A new kind folder (perhaps a link to another disk) is one the workers must accept too.
    request.app.state.services.pool.set_model_roots(catalog.worker_roots())
    snap = catalog.snapshot()
    return _json({
        "models": {kind.value: len(snap.models[kind]) for kind in ModelKind},
        "refused": len(snap.refused),
        "styles": len(snap.styles),
        "presets": len(snap.presets),
        "wildcards": len(snap.wildcards),
        "problems": snap.problems,
        # Each preset fitted anew to what is on disk now (the page reads them from /v1/catalog).
        "adjustments": {name: p.adjustments for name, p in snap.presets.items() if p.adjustments},
    })


def routes() -> list[BaseRoute]:
    return [
        Route("/v1/catalog", get_catalog, methods=["GET"]),
        Route("/v1/catalog/rescan", rescan, methods=["POST"]),
        Route("/v1/models", get_models, methods=["GET"]),
        Route("/v1/loras", get_loras, methods=["GET"]),
        Route("/v1/vaes", get_vaes, methods=["GET"]),
        Route("/v1/styles", get_styles, methods=["GET"]),
        Route("/v1/presets", get_presets, methods=["GET"]),
        Route("/v1/presets/{name}", get_preset, methods=["GET"]),
    ]
