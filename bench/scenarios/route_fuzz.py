"""Requests for every route of the app's OpenAPI document, drawn by hypothesis, and the rule each answer
must keep: never a 5xx; every 4xx a JSON error with a message, and a 400/413/422 names the field.

The strategies lean towards values that get deep into a route (known ids, catalog names, numbers at
their bounds) and mix in wrong types, junk JSON, traversal strings and bytes that are not JSON at all.
"""

from __future__ import annotations

import contextlib
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import httpx
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from bench.harness.orchestrator_process import OrchestratorProcess
from bench.harness.settings import SMALL, server_settings
from orchestrator.api.routes.ui import ASSETS

FAKE_WORKER = Path(__file__).resolve().parents[1] / "harness" / "fake_worker.py"

TRAVERSAL = ("..", "../..", "../../../etc/passwd", "/etc/passwd", "%2e%2e", "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
             "..%2f..%2fhistory.db", "..\\..\\windows", "C:\\x.png", ".thumbs", ".hidden.png", "history.db",
             "a/../../b.png", "~/x", "x\x00.png", "%00", "////", "..;/x", "%252e%252e%252f")
JUNK_NAMES = ("", " ", "None", "none", "null", "*", "tiny", "TINY.SAFETENSORS", "tiny.safetensors ", "\u00e9\u00e8",
              "x" * 300)
# Bodies of routes the document lists without one: their fields, and plausible values.
EXTRA_BODY: dict[tuple[str, str], tuple[str, ...]] = {
    ("post", "/v1/history/delete"): ("ids",), ("post", "/v1/history/export"): ("ids",),
    ("patch", "/v1/history/{id}"): ("starred",), ("post", "/config/editor"): ("values",),
    ("post", "/generate"): ("prompt", "image_number", "base_model_name", "loras", "aspect_ratio"),
    ("post", "/stop"): (),
}
JSON_ERROR_SHAPES = ("v1", "compat")


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    query: dict[str, dict]  # name → schema
    body: dict | None  # JSON schema of the body, when documented


@dataclass
class Known:
    """Values that exist on the server under test, so that draws reach past "not found"."""

    job_ids: list[str] = field(default_factory=list)
    image_ids: list[str] = field(default_factory=list)
    relpaths: list[str] = field(default_factory=list)
    presets: list[str] = field(default_factory=list)
    styles: list[str] = field(default_factory=list)
    assets: list[str] = field(default_factory=list)
    checkpoint: str = "tiny.safetensors"


@dataclass(frozen=True)
class Call:
    method: str
    path: str  # already percent-encoded
    query: list[tuple[str, str]]
    body: bytes | None
    route: str  # the OpenAPI path, to report


def operations(doc: dict) -> list[Operation]:
    ops = []
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            query = {p["name"]: p.get("schema", {}) for p in op.get("parameters", []) if p["in"] == "query"}
            body = None
            if "requestBody" in op:  # sent as JSON; a route taking only files must refuse that by name
                body = op["requestBody"]["content"].get("application/json", {}).get("schema", {})
            ops.append(Operation(method, path, query, body))
    return ops


# ----- values ---------------------------------------------------------------------------------

JUNK = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10,
)


def _numbers(schema: dict, integer: bool) -> st.SearchStrategy:
    lo, hi = schema.get("minimum", schema.get("exclusiveMinimum")), schema.get("maximum", schema.get("exclusiveMaximum"))
    base = st.integers(lo, hi) if integer else st.floats(lo, hi, allow_nan=False, allow_infinity=False)
    edges = [v for v in (lo, hi) if v is not None]
    off = [e + d for e in edges for d in ((-1, 1) if integer else (-0.001, 0.001))]
    extremes = [0, -1, 2**63, -(2**63) - 1, 10**30] if integer else [0.0, -1.0, 1e308, -1e308, 5e-324]
    return base | st.sampled_from(edges + off + extremes)


def value_for(schema: dict, components: dict, hints: dict[str, st.SearchStrategy], name: str = "",
              depth: int = 0) -> st.SearchStrategy:
    """A value fitting `schema` (often) or not (sometimes), with per-name hints for names and ids."""
    if name in hints:
        return hints[name] | JUNK
    if "$ref" in schema:
        return value_for(components[schema["$ref"].rsplit("/", 1)[-1]], components, hints, name, depth)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return st.one_of([value_for(s, components, hints, name, depth) for s in schema[key]])
    if "enum" in schema:
        return st.sampled_from(schema["enum"]) | st.text(max_size=12)
    if "const" in schema:
        return st.just(schema["const"]) | JUNK
    kind = schema.get("type")
    if kind == "integer":
        return _numbers(schema, True) | JUNK
    if kind == "number":
        return _numbers(schema, False) | st.integers(-5, 5)
    if kind == "string":
        longest = schema.get("maxLength")
        sizes = st.text(max_size=40) | (st.just("x" * (longest + 1)) if longest else st.text(max_size=0))
        return sizes | st.sampled_from(TRAVERSAL) | st.integers()
    if kind == "boolean":
        return st.booleans() | st.sampled_from(["true", 1, 0, None])
    if kind == "null":
        return st.none()
    if kind == "array" and depth < 3:
        items = schema.get("items") or {}
        if "prefixItems" in schema:
            fixed = st.tuples(*(value_for(s, components, hints, "", depth + 1) for s in schema["prefixItems"]))
            return fixed.map(list) | st.lists(JUNK, max_size=4)
        return st.lists(value_for(items, components, hints, "", depth + 1), max_size=4)
    if kind == "object" and depth < 3:
        props = schema.get("properties", {})
        optional = {k: value_for(v, components, hints, k, depth + 1) for k, v in props.items()}
        typo = st.dictionaries(st.sampled_from([f"{k}_" for k in props] or ["x"]), JUNK, max_size=1)
        return st.builds(lambda a, b: {**a, **b}, st.fixed_dictionaries({}, optional=optional), typo)
    return JUNK


def hints_for(known: Known) -> dict[str, st.SearchStrategy]:
    names = st.sampled_from([known.checkpoint, *TRAVERSAL, *JUNK_NAMES])
    return {
        "base_model_name": names, "refiner_model_name": names, "vae_name": names,
        "preset": st.sampled_from([*known.presets, *TRAVERSAL, *JUNK_NAMES]),
        "style_selections": st.lists(st.sampled_from([*known.styles[:20], *TRAVERSAL, "Random Style"]), max_size=4),
        "loras": st.lists(st.tuples(st.booleans(), names, st.floats(-3, 3)).map(list)
                          | st.fixed_dictionaries({"name": names, "weight": st.floats(-3, 3)}), max_size=3),
        "aspect_ratios_selection": st.sampled_from(["1152*896", "1024\u00d71024", "896\u00d71152 | 7:9", "0*0",
                                                    "-1*5", "99999*99999", "a*b"]),
        "sampler_name": st.sampled_from(["euler", "dpmpp_2m_sde_gpu", "EULER", "../euler", "lcm"]),
        "scheduler_name": st.sampled_from(["karras", "lcm", "turbo", "Karras", ""]),
        "prompt": st.text(max_size=60) | st.sampled_from(["__flowers__ in a vase", "__../../etc/passwd__",
                                                          "<lora:../../x:1>", "{red|blue} fox", "x" * 20001]),
        "ids": st.lists(st.sampled_from(known.image_ids or ["none"]) | st.text(max_size=70), max_size=4),
        "starred": st.booleans(),
        "values": st.dictionaries(st.sampled_from(["port", "default_preset", "worker_cmd", "outputs_dir",
                                                   "queue_limit", "x"]), JUNK, max_size=2),
    }


def path_value(segment: str, path: str, known: Known) -> st.SearchStrategy:
    if segment == "path":  # {path:path}: slashes allowed, traversal the point
        pool = [*known.relpaths, *TRAVERSAL, "2020-01-01/none.png", "x.png/"]
        return st.sampled_from(pool) | st.text(max_size=30)
    if segment == "name":
        pool = [*known.presets, *known.assets, *TRAVERSAL]
    elif path.startswith("/v1/history"):
        pool = [*known.image_ids, *TRAVERSAL]
    else:  # job ids, task ids
        pool = [*known.job_ids, *TRAVERSAL]
    return st.sampled_from(pool or list(TRAVERSAL)) | st.text(max_size=30)


@st.composite
def calls(draw, ops: list[Operation], components: dict, known: Known) -> Call:
    op = draw(st.sampled_from(ops))
    hints = hints_for(known)
    path = op.path
    for segment in re.findall(r"\{(\w+)\}", op.path):
        raw = draw(path_value(segment, op.path, known))
        path = path.replace("{" + segment + "}", quote(raw, safe="/" if segment == "path" else ""), 1)
    query: list[tuple[str, str]] = []
    for name, schema in op.query.items():
        if draw(st.booleans()):
            value = draw(value_for(schema, components, hints, name) if schema else JUNK)
            query.append((name, value if isinstance(value, str) else json.dumps(value)))
    if draw(st.integers(0, 9)) == 0:
        query.append((draw(st.text(min_size=1, max_size=8)), draw(st.text(max_size=8))))
    body = None
    if op.method in ("post", "patch", "put"):
        if op.body is not None:
            shape = value_for(op.body, components, hints) | st.fixed_dictionaries(
                {"fooocus_args_contract_version": st.sampled_from([1, 2]),
                 "fooocus_args": st.lists(st.none() | st.booleans() | st.integers() | st.text(max_size=6),
                                          min_size=150, max_size=153)})
        else:
            keys = EXTRA_BODY.get((op.method, op.path), ())
            shape = st.fixed_dictionaries({}, optional={k: hints.get(k, JUNK) for k in keys}) | JUNK
        body = draw(shape.map(lambda v: json.dumps(v).encode())
                    | st.binary(max_size=40) | st.sampled_from([b"", b"{", b"[]", b"null", b'{"a":1}{', b"\xff\xfe"]))
    return Call(op.method.upper(), path, query, body, op.path)


# ----- the rule -------------------------------------------------------------------------------

def send(client: httpx.Client, call: Call) -> tuple[int, str, bytes]:
    """(status, content type, body); an event stream is answered but not read."""
    headers = {"content-type": "application/json"} if call.body is not None else {}
    with client.stream(call.method, call.path, params=call.query, content=call.body, headers=headers) as r:
        kind = r.headers.get("content-type", "")
        body = b"" if kind.startswith("text/event-stream") else r.read()
        return r.status_code, kind, body


def problem(status: int, kind: str, body: bytes) -> str | None:
    """What is wrong with an answer, or None."""
    if status >= 500:
        return f"{status}: {body[:300]!r}"
    if status < 400:
        return None
    if not kind.startswith("application/json"):
        return f"{status} answered {kind!r}, not a JSON error: {body[:200]!r}"
    try:
        data = json.loads(body)
    except ValueError:
        return f"{status} with a body that is not JSON: {body[:200]!r}"
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):  # the /v1 shape: {"error": {"message", "field", …}}
        message, named = error.get("message"), error.get("field")
    elif isinstance(error, str):  # RemGo's shape: {"error": "…", "field": …}
        message, named = error, data.get("field")
    else:
        return f"{status} without an error object: {body[:200]!r}"
    if not message:
        return f"{status} with an empty message"
    if status in (400, 413, 422) and not named:
        return f"{status} does not name the field: {message[:200]}"
    return None


# ----- the server under test ------------------------------------------------------------------

def fuzz_settings(tmp: Path, **overrides):
    """A server whose worker answers every task at once with a 1x1 image: accepted jobs finish
    (so `?wait=true` returns) and the run measures the routes, not image making."""
    overrides.setdefault("queue_limit", 100_000)
    return server_settings(tmp, worker_cmd=[sys.executable, str(FAKE_WORKER), "instant"], preview_enabled=False,
                           config_file=str(tmp / "remgo.toml"), **overrides)


@contextlib.contextmanager
def fuzz_target(tmp: Path, **overrides) -> Iterator[tuple[httpx.Client, list[Operation], dict, Known]]:
    """A running `remgo serve` with a few jobs and images made, the document's operations and what exists.
    (A separate process: a server on a thread of the client's process answers keep-alive requests ~25x slower.)"""
    with OrchestratorProcess(fuzz_settings(tmp, **overrides), tmp) as orch:
        client = orch.client
        for n in range(2):
            client.post(f"/v1/jobs?id=seed{n}&wait=true", json={**SMALL, "image_number": 2}).raise_for_status()
        doc = client.get("/openapi.json").json()
        items = client.get("/v1/history?limit=50").json()["items"]
        known = Known(job_ids=["seed0", "seed1"], image_ids=[i["id"] for i in items],
                      relpaths=[i["path"] for i in items], presets=[p["name"] for p in client.get("/v1/presets").json()],
                      styles=[s["name"] for s in client.get("/v1/styles").json()], assets=sorted(ASSETS))
        yield client, operations(doc), doc["components"]["schemas"], known


def run_cases(client: httpx.Client, ops: list[Operation], components: dict, known: Known, *, cases: int,
              rng_seed: int) -> dict:
    """`cases` fresh draws (no shrinking), every answer checked; the figures and the problems found."""
    statuses: dict[int, int] = {}
    problems: list[tuple[Call, str]] = []

    @seed(rng_seed)
    @settings(max_examples=cases, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(calls(ops, components, known))
    def one(call: Call) -> None:
        status, kind, body = send(client, call)
        statuses[status] = statuses.get(status, 0) + 1
        if (found := problem(status, kind, body)) is not None:
            problems.append((call, found))

    one()
    return {"cases": sum(statuses.values()), "statuses": dict(sorted(statuses.items())), "problems": problems}
