"""Hand-picked bad input: each answer is a 4xx JSON error that names the field (never a 5xx)."""

import json

import pytest
import websockets

from bench.harness.in_process import running
from bench.harness.settings import SMALL
from bench.scenarios.route_fuzz import fuzz_settings, problem
from contract.legacy_slots import ARGS_LENGTH

pytestmark = pytest.mark.anyio
DEEP = b"[" * 5000 + b"]" * 5000


def _v2(**fields) -> bytes:
    return json.dumps({**SMALL, **fields}).encode()


def _v1(length: int) -> bytes:
    return json.dumps({"fooocus_args_contract_version": 1, "fooocus_args": [None] * length}).encode()


# (body, status, field or fields) for POST /v1/jobs; RemGo's POST /generate gets the v2 ones too.
CASES = [
    (_v2(prompt="x" * 20001), 422, "$.prompt"),
    (_v2(negative_prompt="y" * 100_000), 422, "$.negative_prompt"),
    (_v2().replace(b'"image_seed": 1000', b'"image_seed": NaN'), 422, "$"),
    (_v2().replace(b'"image_seed": 1000', b'"guidance_scale": Infinity'), 422, "$"),
    (_v2().replace(b'"image_seed": 1000', b'"guidance_scale": 1e999'), 422, "$.guidance_scale"),
    (_v2().replace(b'"image_seed": 1000', b'"guidance_scale": -1e999'), 422, "$.guidance_scale"),
    (_v2(overwrite_width=-5), 422, "$.overwrite_width"),
    (_v2(overwrite_height=-300), 422, "$.overwrite_height"),
    (_v2(aspect_ratios_selection="-1024*-1024"), 422, "$.aspect_ratios_selection"),
    (_v2(image_number=0), 422, "$.image_number"),
    (_v2(image_number=10_000), 422, "$.image_number"),
    (_v2(performance_selection="Ludicrous"), 422, "$.performance_selection"),
    (_v2(output_format="gif"), 422, "$.output_format"),
    (_v2(sampler_name="warp_drive"), 422, "$.sampler_name"),
    (_v2(scheduler_name="whenever"), 422, "$.scheduler_name"),
    (_v2(refiner_swap_method="teleport"), 422, "$.refiner_swap_method"),
    (_v2(image_number="2"), 422, "$.image_number"),
    (_v2(prompt=["a", "b"]), 422, "$.prompt"),
    (_v2(loras="lora.safetensors"), 422, "$.loras"),
    (_v2(style_selections={"a": 1}), 422, "$.style_selections"),
    (_v2(image_seed=2**70), 422, "$.image_seed"),
    (b'{"prompt": ' + DEEP + b"}", 422, ("$", "$.prompt")),
    (DEEP, 422, "$"),
    (b'{"a": ' * 3000 + b"1" + b"}" * 3000, 422, ("$", "$.a")),
    (b"\xff\xfe\x00", 422, "$"),
    (b"", 422, "$"),
    (_v1(ARGS_LENGTH - 1), 422, "$.fooocus_args"),
    (_v1(ARGS_LENGTH + 1), 422, "$.fooocus_args"),
]


async def test_bad_bodies_are_refused_naming_the_field(tmp_path) -> None:
    assert ARGS_LENGTH == 152
    async with running(fuzz_settings(tmp_path, max_body_bytes=1 << 20)) as srv:
        c = srv.client
        for body, status, field in CASES:
            fields = field if isinstance(field, tuple) else (field,)
            r = await c.post("/v1/jobs", content=body, headers={"content-type": "application/json"})
            assert r.status_code == status and r.json()["error"]["field"] in fields, (body[:80], r.text[:300])
            if b"fooocus_args" not in body:
                r = await c.post("/generate", content=body, headers={"content-type": "application/json"})
                named = r.json()["field"]
                assert r.status_code == status and named in fields, (body[:80], r.text[:300])
        too_big = _v2(prompt="x" * (2 << 20))
        r = await c.post("/generate", content=too_big, headers={"content-type": "application/json"})
        assert r.status_code == 413 and r.json()["error"]["field"] == "$"
        # /v1/jobs takes input images inline, so its body limit is larger: the prompt's own limit answers.
        r = await c.post("/v1/jobs", content=too_big, headers={"content-type": "application/json"})
        assert r.status_code == 422 and r.json()["error"]["field"] == "$.prompt"
        # Nothing above was queued; the server still works.
        assert (await c.get("/health")).json()["queue_depth"] == 0
        assert (await c.post("/v1/jobs", json=SMALL)).status_code == 202


async def test_deep_json_in_every_body_route(tmp_path) -> None:
    async with running(fuzz_settings(tmp_path)) as srv:
        for method, path in (("POST", "/v1/history/delete"), ("POST", "/v1/history/export"),
                             ("PATCH", "/v1/history/some-id"), ("POST", "/config/editor")):
            for body in (DEEP, b'{"ids": ' + DEEP + b"}", b"\xff"):
                r = await srv.client.request(method, path, content=body)
                assert problem(r.status_code, r.headers["content-type"], r.content) is None, (path, r.text[:200])
                assert 400 <= r.status_code < 500
        async with websockets.connect(f"{srv.ws_url}/v1/ws") as ws:
            for text in (DEEP.decode(), '{"op": "subscribe", "job_id": ' + DEEP.decode() + "}", "nope"):
                await ws.send(text)
                reply = json.loads(await ws.recv())
                assert reply["type"] == "error" and reply["error"]["field"], reply
            await ws.send(json.dumps({"op": "subscribe", "job_id": "*"}))
            assert json.loads(await ws.recv())["type"] == "subscribed"


async def test_numbers_beyond_sqlite_integers_in_queries(tmp_path) -> None:
    from orchestrator.store.history.query import encode_cursor

    huge = str(10**22)
    async with running(fuzz_settings(tmp_path)) as srv:
        for path, field in ((f"/v1/jobs?cursor={huge}", "cursor"), (f"/v1/history?cursor={encode_cursor(2**70)}", "cursor"),
                            (f"/history?offset={huge}", "offset"), (f"/history?page={huge}", "page"),
                            (f"/v1/jobs?limit={huge}", "limit"), (f"/v1/history?limit=-{huge}", "limit")):
            r = await srv.client.get(path)
            assert problem(r.status_code, r.headers["content-type"], r.content) is None, (path, r.text)
            body = r.json()
            named = body["error"]["field"] if isinstance(body["error"], dict) else body["field"]
            assert r.status_code in (400, 422) and named == field, (path, r.text)
