"""Submitting jobs over HTTP: result, events, wait/inline, idempotent ids, v1 payloads, priorities, limits."""

import base64

import msgspec
import pytest

from bench.harness.in_process import poll, running, sse_events, until
from bench.harness.settings import SMALL, server_settings
from contract.legacy import to_legacy_payload
from contract.request import GenerateRequest

pytestmark = pytest.mark.anyio


async def test_submit_events_result(tmp_path) -> None:
    async with running(server_settings(tmp_path)) as srv:
        r = await srv.client.post("/v1/jobs", json={**SMALL, "image_number": 2, "image_seed": 500})
        assert r.status_code == 202, r.text
        accepted = r.json()
        assert accepted["status"] in ("queued", "running") and r.headers["location"] == f"/v1/jobs/{accepted['id']}"
        events = await sse_events(srv.client, f"/v1/jobs/{accepted['id']}/events")
        types = [t for t, _ in events]
        assert types[-1] == "finished" and types.count("image_ready") == 2
        progress = [d["progress"] for t, d in events if t == "progress"]
        assert progress[-1]["total"] == 6 and all(p["images_total"] == 2 for p in progress)
        job = (await srv.client.get(f"/v1/jobs/{accepted['id']}")).json()
        assert job["status"] == "succeeded" and job["progress"]["step"] == job["progress"]["total"] == 6
        assert job["request"] == {**SMALL, "image_number": 2, "image_seed": 500}
        assert job["request_format"] == "v2"
        task = job["normalized"]["tasks"][0]
        assert task["seeds"] == [500, 501] and task["steps"] == 3 and task["base_model"]["name"] == "tiny.safetensors"
        assert job["normalized"]["request"]["image_number"] == 2
        assert job["warnings"] == []  # the default preset comes fitted to this install: nothing to repeat per job
        assert [(i["index"], i["seed"]) for i in job["images"]] == [(0, 500), (1, 501)]
        png = await srv.client.get(job["images"][0]["url"])
        assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
        inline = (await srv.client.get(f"/v1/jobs/{accepted['id']}?inline=true")).json()
        assert base64.b64decode(inline["images"][0]["data"]) == png.content
        assert "data" not in job["images"][0]


async def test_wait_and_idempotent_ids(tmp_path) -> None:
    async with running(server_settings(tmp_path)) as srv:
        r = await srv.client.post("/v1/jobs?id=my-job.1&wait=true&inline=true", json=SMALL)
        assert r.status_code == 200
        job = r.json()
        assert job["id"] == "my-job.1" and job["status"] == "succeeded" and job["images"][0]["data"]
        again = await srv.client.post("/v1/jobs?id=my-job.1", json={**SMALL, "image_number": 4})
        assert again.status_code == 200 and again.json() == {"id": "my-job.1", "status": "succeeded",
                                                              "position": None, "created": False}
        # A retry is answered from the stored job: its body is not read again (one submit path, every face).
        retry = await srv.client.post("/v1/jobs?id=my-job.1", content=b"{not json", headers={"content-type": "application/json"})
        assert retry.status_code == 200 and retry.json()["created"] is False
        listed = (await srv.client.get("/v1/jobs")).json()
        assert [j["id"] for j in listed["jobs"]] == ["my-job.1"] and listed["jobs"][0]["images_total"] == 1


async def test_v1_payload_is_accepted(tmp_path) -> None:
    # v1 carries every value; its styles must be ones this install has (Fooocus's own are not, until imported).
    request = GenerateRequest(prompt="a fox", base_model_name="tiny.safetensors", overwrite_width=256,
                              overwrite_height=256, overwrite_step=2, image_number=1, image_seed=77, loras=[],
                              style_selections=["Fooocus V2", "Remgo Sharp"])
    async with running(server_settings(tmp_path)) as srv:
        fooocus_defaults = msgspec.structs.replace(request, style_selections=None)  # Fooocus's three, as v1 fills
        r = await srv.client.post("/v1/jobs", json=to_legacy_payload(fooocus_defaults))
        assert r.status_code == 422 and r.json()["error"]["field"] == "$.style_selections[1]", r.text
        assert "remgo styles import" in r.json()["error"]["message"]
        r = await srv.client.post("/v1/jobs?wait=true", json=to_legacy_payload(request))
        assert r.status_code == 200, r.text
        job = r.json()
        assert job["status"] == "succeeded" and job["request_format"] == "v1"
        assert job["images"][0]["seed"] == 77 and job["normalized"]["tasks"][0]["steps"] == 2


BAD_BODIES = [
    (b"{", "$"),
    (b"[]", "$"),
    (b"", "$"),
    (b'{"prompt": "x", "image_numbr": 2}', "$.image_numbr"),
    (b'{"image_number": "two"}', "$.image_number"),
    (b'{"image_number": 99}', "$.image_number"),
    (b'{"loras": [{"name": "a", "weight": 7}]}', "$.loras[0].weight"),
    (b'{"base_model_name": "nope.safetensors"}', "$.base_model_name"),
    (b'{"style_selections": ["Remgo Sharp", "No Such Style"]}', "$.style_selections[1]"),
    (b'{"fooocus_args_contract_version": 1, "fooocus_args": [1, 2]}', "$.fooocus_args"),
]
BAD_SUBMIT_PARAMETERS = [
    ("priority=high", "priority"), ("priority=1000", "priority"), ("id=../etc", "id"), ("wait=maybe", "wait"),
    ("webhook_url=ftp://x", "webhook_url"), ("webhook_url=http://127.0.0.1:9/h", "webhook_url"),
]
BAD_READ_PARAMETERS = [
    ("/v1/jobs?status=done", "status"), ("/v1/jobs?limit=0", "limit"), ("/v1/jobs?cursor=abc", "cursor"),
    ("/v1/jobs/x?inline=2", "inline"),
]


async def test_bad_input_is_422_naming_the_field(tmp_path) -> None:
    async with running(server_settings(tmp_path), ready=False) as srv:
        for body, field in BAD_BODIES:
            r = await srv.client.post("/v1/jobs", content=body, headers={"content-type": "application/json"})
            assert r.status_code == 422, (body, r.text)
            assert r.json()["error"]["field"] == field and r.json()["error"]["message"], (body, r.json())
        for query, field in BAD_SUBMIT_PARAMETERS:
            r = await srv.client.post(f"/v1/jobs?{query}", json=SMALL)
            assert r.status_code == 422 and r.json()["error"]["field"] == field, (query, r.text)
        for path, field in BAD_READ_PARAMETERS:
            r = await srv.client.get(path)
            assert r.status_code == 422 and r.json()["error"]["field"] == field, (path, r.text)
        assert (await srv.client.get("/v1/jobs")).json()["jobs"] == []  # nothing was queued


async def test_unknown_ids_are_404(tmp_path) -> None:
    async with running(server_settings(tmp_path), ready=False) as srv:
        for method, path in (("GET", "/v1/jobs/nope"), ("POST", "/v1/jobs/nope/cancel"),
                             ("POST", "/v1/jobs/nope/skip"), ("GET", "/v1/jobs/nope/events")):
            r = await srv.client.request(method, path)
            assert r.status_code == 404 and r.json()["error"]["field"] == "id", (method, path)
        r = await srv.client.get("/v1/no-such-route")
        assert r.status_code == 404 and "error" in r.json()


async def test_priorities_and_queue_limit(tmp_path) -> None:
    settings = server_settings(tmp_path, queue_limit=3, step_delay=0.05)
    async with running(settings) as srv:
        first = (await srv.client.post("/v1/jobs?id=first", json={**SMALL, "overwrite_step": 8})).json()
        await until(lambda: srv.services.jobs.get("first").status.value == "running")
        assert first["id"] == "first"
        low = (await srv.client.post("/v1/jobs?id=low", json=SMALL)).json()
        high = (await srv.client.post("/v1/jobs?id=high&priority=10", json=SMALL)).json()
        assert low["position"] == 0 and high["position"] == 0
        assert (await srv.client.get("/v1/jobs/low")).json()["position"] == 1
        await srv.client.post("/v1/jobs?id=third", json=SMALL)
        full = await srv.client.post("/v1/jobs", json=SMALL)
        assert full.status_code == 429 and int(full.headers["retry-after"]) >= 1
        assert "limit of 3" in full.json()["error"]["message"]
        await poll(srv.client, "third", "succeeded")
        started = {j: (await srv.client.get(f"/v1/jobs/{j}")).json()["started_at"] for j in ("high", "low")}
        assert started["high"] < started["low"]
        queued = (await srv.client.get("/v1/jobs?status=succeeded&limit=2")).json()
        assert len(queued["jobs"]) == 2 and queued["next_cursor"]
        rest = (await srv.client.get(f"/v1/jobs?status=succeeded&cursor={queued['next_cursor']}")).json()
        assert len(rest["jobs"]) == 2 and rest["next_cursor"] is None


async def test_the_default_preset_setting_applies(tmp_path) -> None:
    async with running(server_settings(tmp_path, default_preset="sketchbook"), ready=False) as srv:
        body = {k: v for k, v in SMALL.items() if k not in ("image_number", "overwrite_step")}
        job_id = (await srv.client.post("/v1/jobs", json=body)).json()["id"]
        job = (await srv.client.get(f"/v1/jobs/{job_id}")).json()
        assert job["normalized"]["request"]["performance_selection"] == "Quality"
        assert job["normalized"]["request"]["guidance_scale"] == 5.0
        explicit = (await srv.client.post("/v1/jobs", json={**body, "preset": "default"})).json()["id"]
        job = (await srv.client.get(f"/v1/jobs/{explicit}")).json()
        assert job["normalized"]["request"]["performance_selection"] == "Speed"
