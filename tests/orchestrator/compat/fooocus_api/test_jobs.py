"""Fooocus-API's job routes over remgo's one queue: async_process and query-job through a running job,
stop, job-queue and job-history, the webhook in its payload shape with remgo's signature, X-API-KEY, and
clients of two faces sharing the queue in order."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bench.harness.in_process import poll, running, serve_app
from bench.harness.settings import CHECKPOINT, server_settings
from bench.harness.worker_kernels import HOLD
from orchestrator.jobs.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from tests.orchestrator.compat.fooocus_api.documented import (
    HISTORY_INFO,
    QUEUE_INFO,
    STOP,
    check,
    check_async_job,
)

pytestmark = pytest.mark.anyio
SMALL = {"prompt": "a red fox", "base_model_name": CHECKPOINT,
         "advanced_params": {"overwrite_width": 256, "overwrite_height": 256, "overwrite_step": 3}}
HELD = {**SMALL, "prompt": f"a fox {HOLD}", "async_process": True,
        "advanced_params": {**SMALL["advanced_params"], "overwrite_step": 20}}


async def _query(srv, job_id: str, preview: bool = False) -> dict:
    r = await srv.client.get(f"/v1/generation/query-job?job_id={job_id}&require_step_preview={str(preview).lower()}")
    assert r.status_code == 200, r.text
    return check_async_job(r.json())


async def test_async_job_through_query_stop_queue_and_history(tmp_path) -> None:
    async with running(server_settings(tmp_path, step_delay=0.02)) as srv:
        r = await srv.client.post("/v1/generation/text-to-image", json=HELD)
        held = check_async_job(r.json())
        assert held["job_type"] == "Text to Image" and held["job_stage"] in ("WAITING", "RUNNING")
        assert held["job_result"] is None and held["job_progress"] < 100
        r = await srv.client.post("/v1/generation/text-to-image", json={**SMALL, "async_process": True})
        waiting = check_async_job(r.json())
        assert waiting["job_stage"] == "WAITING" and waiting["job_status"] == "Waiting in queue (position 1)"

        await poll(srv.client, held["job_id"], "running")
        for _ in range(200):
            running_now = await _query(srv, held["job_id"], preview=True)
            if running_now["job_step_preview"]:
                break
            await asyncio.sleep(0.02)
        assert running_now["job_stage"] == "RUNNING" and 0 <= running_now["job_progress"] < 100
        assert running_now["job_status"].startswith("Step ") and "in the 1-th Sampling" in running_now["job_status"]
        assert base64.b64decode(running_now["job_step_preview"])[:3] == b"\xff\xd8\xff"  # a JPEG preview
        assert (await _query(srv, held["job_id"]))["job_step_preview"] is None  # only when asked for

        queue = check((await srv.client.get("/v1/generation/job-queue")).json(), QUEUE_INFO)
        assert queue == {"running_size": 2, "finished_size": 0, "last_job_id": waiting["job_id"]}
        history = (await srv.client.get("/v1/generation/job-history")).json()
        assert set(history) == {"queue", "history"} and history["history"] == []
        assert [check(i, HISTORY_INFO)["job_id"] for i in history["queue"]] == [held["job_id"], waiting["job_id"]]
        assert history["queue"][0]["start_mills"] > 0 and history["queue"][1]["start_mills"] == 0

        r = await srv.client.post("/v1/generation/stop")
        assert check(r.json(), STOP) == {"msg": "success"}
        await poll(srv.client, held["job_id"], "cancelled")
        stopped = await _query(srv, held["job_id"])
        assert stopped["job_stage"] == "ERROR" and stopped["job_status"].startswith("Stopped")
        await poll(srv.client, waiting["job_id"], "succeeded")  # the queued job kept its place and ran
        done = await _query(srv, waiting["job_id"])
        assert done["job_stage"] == "SUCCESS" and done["job_progress"] == 100 and done["job_status"] == "Finished"
        assert done["job_result"][0]["finish_reason"] == "SUCCESS" and done["job_result"][0]["base64"] is None

        history = (await srv.client.get("/v1/generation/job-history?page_size=1")).json()
        assert history["queue"] == [] and [i["job_id"] for i in history["history"]] == [waiting["job_id"]]
        assert history["history"][0]["is_finished"] and history["history"][0]["finish_mills"] > 0
        page = (await srv.client.get("/v1/generation/job-history?page_size=1&page=1")).json()["history"]
        assert [i["job_id"] for i in page] == [held["job_id"]]
        assert check((await srv.client.get("/v1/generation/job-queue")).json(), QUEUE_INFO)["finished_size"] == 2


async def test_stop_leaves_other_faces_jobs_and_queries_cover_them(tmp_path) -> None:
    async with running(server_settings(tmp_path, devices=2, step_delay=0.02)) as srv:
        other = (await srv.client.post("/v1/jobs?id=v1-job", json={
            "prompt": f"another client {HOLD}", "base_model_name": CHECKPOINT, "overwrite_width": 256,
            "overwrite_height": 256, "overwrite_step": 20, "image_number": 1})).json()["id"]
        mine = check_async_job((await srv.client.post("/v1/generation/text-to-image", json=HELD)).json())["job_id"]
        for job_id in (other, mine):
            await poll(srv.client, job_id, "running")
        await srv.client.post("/v1/generation/stop")
        await poll(srv.client, mine, "cancelled")
        assert (await srv.client.get(f"/v1/jobs/{other}")).json()["status"] == "running"
        assert (await _query(srv, other))["job_stage"] == "RUNNING"  # a job of remgo's API, queried here
        await srv.client.post(f"/v1/jobs/{other}/cancel")


async def test_fooocus_and_v1_clients_share_one_queue_in_order(tmp_path) -> None:
    async with running(server_settings(tmp_path, step_delay=0.01)) as srv:
        ids = []
        for n in range(3):
            v1 = await srv.client.post(f"/v1/jobs?id=v1-{n}", json={
                "prompt": "fox", "base_model_name": CHECKPOINT, "overwrite_width": 256, "overwrite_height": 256,
                "overwrite_step": 3, "image_number": 1})
            ours = await srv.client.post("/v1/generation/text-to-image", json={**SMALL, "async_process": True})
            ids += [v1.json()["id"], ours.json()["job_id"]]
        for job_id in ids:
            await poll(srv.client, job_id, "succeeded", timeout=60)
        started = [(await srv.client.get(f"/v1/jobs/{i}")).json()["started_at"] for i in ids]
        assert started == sorted(started)  # first come, first served, whichever face


async def test_webhook_has_fooocus_api_payload_and_remgo_signature_and_x_api_key(tmp_path) -> None:
    received: list[tuple[dict, bytes]] = []

    async def hook(request: Request) -> Response:
        received.append((dict(request.headers), await request.body()))
        return Response(status_code=204)

    receiver = Starlette(routes=[Route("/hook", hook, methods=["POST"])])
    async with serve_app(receiver) as hook_url:
        settings = server_settings(tmp_path, webhook_secret="topsecret", webhook_allow_private=True, api_keys=["k1"])
        async with running(settings, headers={"X-API-KEY": "k1"}) as srv:
            r = await srv.client.post("/v1/generation/text-to-image",
                                      json={**SMALL, "image_seed": 42, "webhook_url": f"{hook_url}/hook"})
            assert r.status_code == 200, r.text
            url = r.json()[0]["url"]
            for _ in range(500):
                if received:
                    break
                await asyncio.sleep(0.01)
            headers, body = received[0]
            assert json.loads(body) == {"job_id": json.loads(body)["job_id"], "job_result": [{"url": url, "seed": "42"}]}
            assert verify("topsecret", headers[TIMESTAMP_HEADER.lower()], body, headers[SIGNATURE_HEADER.lower()])
            assert headers["x-remgo-event"] == "job.succeeded"
            job = (await srv.client.get(f"/v1/jobs/{json.loads(body)['job_id']}")).json()
            assert job["request"]["webhook_url"] == f"{hook_url}/hook" and job["webhook_url"] is None  # sent once
            wrong = await srv.client.get("/v1/generation/job-queue", headers={"X-API-KEY": "k2"})
            assert wrong.status_code == 401
        no_secret = server_settings(tmp_path / "plain", webhook_allow_private=True)
        async with running(no_secret, ready=False) as srv:
            r = await srv.client.post("/v1/generation/text-to-image", json={**SMALL, "webhook_url": f"{hook_url}/hook"})
            assert r.status_code == 422 and r.json()["error"]["field"] == "$.webhook_url"
