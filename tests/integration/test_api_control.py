"""Cancel, skip, sharing a job between workers, a worker killed mid-job, restarting with queued jobs."""

import os
import signal

import pytest

from bench.harness.in_process import poll, running, sse_events, until
from bench.harness.settings import SMALL, server_settings

pytestmark = pytest.mark.anyio
SLOW = {**SMALL, "overwrite_step": 40}


async def test_cancel_pending_and_running(tmp_path) -> None:
    async with running(server_settings(tmp_path, step_delay=0.05)) as srv:
        await srv.client.post("/v1/jobs?id=busy", json={**SLOW, "image_number": 2})
        await srv.client.post("/v1/jobs?id=pending", json=SMALL)
        await poll(srv.client, "busy", "running")
        r = (await srv.client.post("/v1/jobs/pending/cancel")).json()
        assert r == {"id": "pending", "status": "cancelled", "changed": True, "message": "removed from the queue"}
        await until(lambda: (srv.services.dispatcher.runs["busy"].latest or
                             srv.services.dispatcher.runs["busy"].progress()).step >= 2)
        r = (await srv.client.post("/v1/jobs/busy/cancel")).json()
        assert r["status"] == "cancelled" and r["changed"]
        job = (await srv.client.get("/v1/jobs/busy")).json()
        assert job["status"] == "cancelled" and job["images"] == [] and job["progress"]["images_done"] == 0
        again = (await srv.client.post("/v1/jobs/busy/cancel")).json()
        assert again["changed"] is False and again["status"] == "cancelled"
        assert (await srv.client.get("/v1/jobs/pending")).json()["status"] == "cancelled"
        ws = (await srv.client.get("/v1/workers")).json()["workers"]
        assert ws[0]["state"] == "idle"


async def test_skip_goes_on_with_the_next_image(tmp_path) -> None:
    async with running(server_settings(tmp_path, step_delay=0.03)) as srv:
        await srv.client.post("/v1/jobs?id=s", json={**SMALL, "overwrite_step": 30, "image_number": 2})
        await until(lambda: "s" in srv.services.dispatcher.runs
                    and (srv.services.dispatcher.runs["s"].latest or srv.services.dispatcher.runs["s"].progress()).step >= 2)
        r = (await srv.client.post("/v1/jobs/s/skip")).json()
        assert r["changed"] and r["message"] == "skipping image 0"
        job = await poll(srv.client, "s", "succeeded")
        assert [(i["index"], i["status"]) for i in job["images"]] == [(0, "skipped"), (1, "done")]
        nothing = (await srv.client.post("/v1/jobs/s/skip")).json()
        assert nothing["changed"] is False


async def test_two_workers_share_a_four_image_job(tmp_path) -> None:
    async with running(server_settings(tmp_path, devices=2, step_delay=0.02)) as srv:
        r = await srv.client.post("/v1/jobs?wait=true", json={**SMALL, "image_number": 4, "overwrite_step": 5})
        job = r.json()
        assert job["status"] == "succeeded"
        assert [i["seed"] for i in job["images"]] == [1000, 1001, 1002, 1003]
        assert {i["worker"] for i in job["images"]} == {"w0", "w1"}
        p = job["progress"]
        assert (p["step"], p["total"], p["images_done"], p["images_total"]) == (20, 20, 4, 4)


async def test_a_worker_killed_mid_job_is_retried_and_the_job_finishes(tmp_path) -> None:
    async with running(server_settings(tmp_path, step_delay=0.05)) as srv:
        await srv.client.post("/v1/jobs?id=k", json={**SMALL, "overwrite_step": 20})
        await until(lambda: "k" in srv.services.dispatcher.runs
                    and (srv.services.dispatcher.runs["k"].latest or srv.services.dispatcher.runs["k"].progress()).step >= 2)
        pid = (await srv.client.get("/v1/workers")).json()["workers"][0]["pid"]
        os.kill(pid, signal.SIGKILL)
        job = await poll(srv.client, "k", "succeeded", timeout=40)
        assert len(job["images"]) == 1
        worker = (await srv.client.get("/v1/workers")).json()["workers"][0]
        assert worker["restarts"] == 1 and worker["pid"] != pid and worker["last_exit"] == "exited with code -9"
        metrics = (await srv.client.get("/metrics")).text
        assert 'remgo_worker_restarts_total{worker="w0",device="cpu"} 1' in metrics
        assert "remgo_task_retries_total 1" in metrics


async def test_restart_runs_queued_and_interrupted_jobs(tmp_path) -> None:
    first = server_settings(tmp_path, step_delay=0.05)
    async with running(first) as srv:
        await srv.client.post("/v1/jobs?id=interrupted", json={**SLOW, "image_number": 2})
        await srv.client.post("/v1/jobs?id=waiting", json=SMALL)
        await poll(srv.client, "interrupted", "running")
    # A second orchestrator on the same state directory picks both up.
    async with running(server_settings(tmp_path, step_delay=0.0)) as srv:
        done = await poll(srv.client, "waiting", "succeeded")
        again = await poll(srv.client, "interrupted", "succeeded")
        assert again["attempts"] == 2 and len(again["images"]) == 2 and done["attempts"] == 1


async def test_queued_jobs_wait_for_workers_and_http_is_up_before_them(tmp_path) -> None:
    settings = server_settings(tmp_path, worker_cmd=[str(tmp_path / "missing-worker")])
    async with running(settings, ready=False) as srv:
        health = (await srv.client.get("/health")).json()
        assert health["ready"] is False and health["status"] == "starting"
        r = await srv.client.post("/v1/jobs?id=later", json=SMALL)
        assert r.status_code == 202 and r.json()["position"] == 0
        await until(lambda: srv.services.pool.workers[0].error is not None)
        workers = (await srv.client.get("/v1/workers")).json()["workers"]
        assert workers[0]["state"] in ("failed", "starting") and "cannot run" in workers[0]["error"]
    async with running(server_settings(tmp_path)) as srv:
        events = await sse_events(srv.client, "/v1/jobs/later/events")
        assert events[-1][0] == "finished"
