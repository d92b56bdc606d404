"""The OpenAPI 3.1 document, built from the msgspec schemas, and the /docs page rendered from it.

Routes this module describes in detail are listed in OPERATIONS; any other route mounted on the app
(catalog, history, outputs …) is still listed, with the first line of its handler's docstring.
"""

from __future__ import annotations

import html
import re
from typing import Any

import msgspec
from starlette.routing import BaseRoute, Route, WebSocketRoute

from contract.legacy_slots import ARGS_LENGTH
from contract.request import GenerateRequest
from orchestrator.api.query import query_of
from orchestrator.api.views import (
    ErrorBody,
    HealthView,
    JobAccepted,
    JobList,
    UploadView,
    WorkerList,
    WsCommand,
)
from orchestrator.common.query_params import Query, names
from orchestrator.jobs.model import ActionResult, JobEvent, JobView

TITLE = "remgo"
VERSION = "1"
_SCHEMAS = (GenerateRequest, JobAccepted, JobView, JobList, ActionResult, ErrorBody, JobEvent, WorkerList,
            HealthView, WsCommand, UploadView)
_LEGACY = {
    "type": "object",
    "description": "The v1 payload: Fooocus's positional arguments.",
    "properties": {
        "fooocus_args_contract_version": {"const": 1},
        "fooocus_args": {"type": "array", "minItems": ARGS_LENGTH, "maxItems": ARGS_LENGTH},
    },
    "required": ["fooocus_args_contract_version", "fooocus_args"],
    "additionalProperties": False,
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(name: str, description: str = "") -> dict[str, Any]:
    return {"description": description or name, "content": {"application/json": {"schema": _ref(name)}}}


def _q(name: str, schema: dict[str, Any], description: str, where: str = "query") -> dict[str, Any]:
    return {"name": name, "in": where, "required": where == "path", "schema": schema, "description": description}


_ID = _q("id", {"type": "string"}, "job id", "path")
_ERR = {"404": _json("ErrorBody", "no such job"), "422": _json("ErrorBody", "a bad parameter, named in `field`")}
_BAD_IMAGE = _json("ErrorBody", "an input image that is not taken (not PNG, JPEG or WebP, over the limits, "
                  "truncated, an unknown upload_id or history_id), or a bad form; `field` names it")
_FILE = {"type": "string", "format": "binary"}
_IMAGES = {t: {"schema": _FILE} for t in ("image/png", "image/jpeg", "image/webp")}
_IMAGE_PARTS = {"uov_input_image": _FILE, "inpaint_input_image": _FILE, "inpaint_mask_image": _FILE}
_SSE = {"description": "text/event-stream of JobEvent", "content": {"text/event-stream": {"schema": _ref("JobEvent")}}}

OPERATIONS: dict[tuple[str, str], dict[str, Any]] = {
    ("post", "/v1/jobs"): {
        "summary": "Submit a job (v2 request or v1 payload; multipart: the JSON in `request`, image files beside)",
        "requestBody": {"required": True, "content": {
            "application/json": {"schema": {"oneOf": [_ref("GenerateRequest"), _LEGACY]}},
            "multipart/form-data": {"schema": {
                "type": "object", "required": ["request"],
                "properties": {"request": {"type": "string", "description": "the JSON request"}, **_IMAGE_PARTS}}},
        }},
        "responses": {"202": _json("JobAccepted", "queued"), "200": _json("JobView", "with wait=true; or "
                      "JobAccepted for an id seen before"), "400": _BAD_IMAGE, "422": _ERR["422"],
                      "429": _json("ErrorBody", "the queue is full; see Retry-After")},
    },
    ("post", "/v1/uploads"): {
        "summary": "Keep an input image (PNG, JPEG or WebP) for later requests; its upload_id is its sha256",
        "requestBody": {"required": True, "content": {
            **_IMAGES,
            "multipart/form-data": {"schema": {"type": "object", "required": ["file"],
                                               "properties": {"file": _FILE}}},
        }},
        "responses": {"201": _json("UploadView", "kept; `{\"upload_id\": …}` names it in an image field"),
                      "400": _BAD_IMAGE, "415": _json("ErrorBody", "another body type")},
    },
    ("get", "/v1/uploads/{id}"): {
        "summary": "An input image kept by POST /v1/uploads (or given inline to a job)",
        "parameters": [_q("id", {"type": "string", "pattern": "^[0-9a-f]{64}$"}, "the upload_id", "path")],
        "responses": {"200": {"description": "the file", "content": _IMAGES},
                      "404": _json("ErrorBody", "no upload with this id")},
    },
    ("get", "/v1/jobs"): {
        "summary": "List jobs, newest first",
        "responses": {"200": _json("JobList"), "422": _ERR["422"]},
    },
    ("get", "/v1/jobs/{id}"): {
        "summary": "One job: status, progress, request, normalized tasks, warnings, error, images",
        "parameters": [_ID],
        "responses": {"200": _json("JobView"), **_ERR},
    },
    ("post", "/v1/jobs/{id}/cancel"): {
        "summary": "Cancel: a queued job leaves the queue, a running one stops at its next step",
        "parameters": [_ID], "responses": {"200": _json("ActionResult"), "404": _ERR["404"]},
    },
    ("post", "/v1/jobs/{id}/skip"): {
        "summary": "Drop the image being made and go on with the next",
        "parameters": [_ID], "responses": {"200": _json("ActionResult"), "404": _ERR["404"]},
    },
    ("get", "/v1/jobs/{id}/events"): {
        "summary": "Server-sent events of one job, up to its terminal event",
        "parameters": [_ID], "responses": {"200": _SSE, "404": _ERR["404"]},
    },
    ("get", "/v1/events"): {"summary": "Server-sent events of every job", "responses": {"200": _SSE}},
    ("get", "/v1/ws"): {
        "summary": "WebSocket: send WsCommand frames, receive JobEvent frames",
        "responses": {"101": {"description": "switching protocols; messages are WsCommand / JobEvent JSON"}},
    },
    ("get", "/health"): {"summary": "Liveness and readiness (no API key needed)", "security": [],
                         "responses": {"200": _json("HealthView")}},
    ("get", "/v1/workers"): {"summary": "Workers: device, state, loaded models, current task, restarts",
                             "responses": {"200": _json("WorkerList")}},
    ("get", "/metrics"): {"summary": "Prometheus metrics",
                          "responses": {"200": {"description": "text/plain exposition format"}}},
    ("get", "/openapi.json"): {"summary": "This document", "responses": {"200": {"description": "OpenAPI 3.1"}}},
    ("get", "/docs"): {"summary": "A readable page of this document", "responses": {"200": {"description": "HTML"}}},
}


def _openapi_path(path: str) -> str:
    return re.sub(r"\{(\w+)(:\w+)?\}", r"{\1}", path)


def _summary(route: Route) -> str:
    doc = (getattr(route.endpoint, "__doc__", None) or "").strip()
    return doc.splitlines()[0] if doc else route.name.replace("_", " ")


def _query_parameters(kind: type[Query] | None, components: dict[str, Any]) -> list[dict[str, Any]]:
    """A route's declared query parameters (routes.query.takes), described from their msgspec types."""
    if kind is None or not names(kind):
        return []
    _, found = msgspec.json.schema_components([kind], ref_template="#/components/schemas/{name}")
    struct = found.pop(kind.__name__)
    components.update(found)  # enums the parameters refer to
    required = set(struct.get("required", ()))
    params = []
    for name, schema in struct["properties"].items():
        schema = dict(schema)
        optional = [m for m in schema.get("anyOf", ()) if m != {"type": "null"}]
        if len(optional) == 1 and schema.get("default", 0) is None:  # `T | None = None`: absent means None
            schema = dict(optional[0])
        description = schema.pop("description", "")
        params.append({"name": name, "in": "query", "required": name in required, "schema": schema,
                       "description": description})
    return params


def build_openapi(routes: list[BaseRoute], *, secured: bool) -> dict[str, Any]:
    _, components = msgspec.json.schema_components(_SCHEMAS, ref_template="#/components/schemas/{name}")
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        if isinstance(route, WebSocketRoute):
            methods, path = ["get"], route.path
        elif isinstance(route, Route):
            methods, path = sorted(m.lower() for m in (route.methods or ()) if m != "HEAD"), route.path
        else:
            continue
        query = _query_parameters(query_of(route.endpoint), components)
        for method in methods:
            op = dict(OPERATIONS.get((method, path)) or {"summary": _summary(route),
                                                           "responses": {"200": {"description": "OK"}}})
            if query:
                op["parameters"] = [*op.get("parameters", []), *query]
            op.setdefault("responses", {}).setdefault("422", _ERR["422"])
            paths.setdefault(_openapi_path(path), {})[method] = op
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": TITLE, "version": VERSION,
                 "description": "SDXL image generation as a service. Errors: {error: {field, message}}."},
        "paths": paths,
        "components": {"schemas": components},
    }
    if secured:
        doc["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
        doc["security"] = [{"bearer": []}]
    return doc


def render_docs(doc: dict[str, Any]) -> str:
    """A self-contained HTML page: the operations table and each schema's fields (no scripts, no CDN)."""
    e = html.escape
    rows = "".join(
        f"<tr><td class=m>{e(method.upper())}</td><td><code>{e(path)}</code></td><td>{e(op.get('summary', ''))}</td>"
        f"<td>{e(', '.join(p['name'] for p in op.get('parameters', []) if p['in'] == 'query'))}</td></tr>"
        for path, ops in sorted(doc["paths"].items()) for method, op in ops.items()
    )
    schemas = []
    for name, schema in sorted(doc["components"]["schemas"].items()):
        props = schema.get("properties", {})
        fields = "".join(f"<li><code>{e(k)}</code> <span>{e(_type_of(v))}</span></li>" for k, v in props.items())
        schemas.append(f"<details><summary>{e(name)}</summary><ul>{fields}</ul></details>")
    return (
        "<!doctype html><html><head><meta charset=utf-8><title>remgo API</title><style>"
        "body{font:14px system-ui,sans-serif;margin:2em;max-width:70em}td{padding:.3em .8em;"
        "border-bottom:1px solid #ddd;vertical-align:top}.m{font-weight:bold}span{color:#666}</style></head><body>"
        f"<h1>remgo API v{e(doc['info']['version'])}</h1><p>{e(doc['info']['description'])} "
        "The machine-readable document is <a href=/openapi.json>/openapi.json</a>.</p>"
        f"<table><tr><th>Method</th><th>Path</th><th>What</th><th>Query</th></tr>{rows}</table>"
        f"<h2>Schemas</h2>{''.join(schemas)}</body></html>"
    )


def _type_of(schema: Any) -> str:
    if not isinstance(schema, dict):
        return "any"
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    if "anyOf" in schema:
        return " | ".join(_type_of(s) for s in schema["anyOf"])
    if "enum" in schema:
        return "one of " + ", ".join(map(str, schema["enum"]))
    if "prefixItems" in schema:
        return "[" + ", ".join(_type_of(s) for s in schema["prefixItems"]) + "]"
    if schema.get("type") == "array":
        return f"array of {_type_of(schema.get('items', {}))}"
    return str(schema.get("type", "any"))
