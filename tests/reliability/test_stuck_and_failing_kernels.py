"""A kernel that stops reporting is killed by the watchdog and its task retried; one that raises or
runs out of memory fails only its own task, and the worker process lives on."""

from pathlib import Path

import pytest

from bench.harness.disk_audit import audit
from bench.harness.in_process import poll, running
from bench.harness.settings import SMALL, kernel_spec, server_settings

pytestmark = pytest.mark.anyio


def _fields(settings) -> dict:
    return {f: getattr(settings, f) for f in settings.__struct_fields__}


async def _worker(srv) -> dict:
    return (await srv.client.get("/v1/workers")).json()["workers"][0]


async def test_a_hung_kernel_is_killed_and_its_task_retried(tmp_path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    base = server_settings(tmp_path, watchdog_seconds=1.0, preview_enabled=False)
    settings = base.__class__(**{**_fields(base), "worker_kernel": kernel_spec("HangOnceKernel"),
                                 "worker_env": {**base.worker_env, "REMGO_TEST_MARK_DIR": str(marks)}})
    async with running(settings) as srv:
        first_pid = (await _worker(srv))["pid"]
        with_events = srv.services.events.subscribe(["hung"])
        await srv.client.post("/v1/jobs?id=hung", json={**SMALL, "overwrite_step": 4})
        job = await poll(srv.client, "hung", "succeeded", timeout=40)
        kinds = []
        while (item := await with_events.get(timeout=0.1)) is not None:
            kinds.append((item.event.type, item.event.message))
        with_events.close()
        retry = [m for k, m in kinds if k == "retrying"]
        assert len(retry) == 1 and "killed by the watchdog: no progress for 1 s" in retry[0]
        assert len(job["images"]) == 1 and job["images"][0]["status"] == "done"
        worker = await _worker(srv)
        assert worker["restarts"] == 1 and worker["pid"] != first_pid
        assert "watchdog" in worker["last_exit"]
    assert audit(Path(settings.state_dir), Path(settings.outputs_dir)).problems == []


async def test_a_kernel_hung_every_time_fails_the_job_with_the_reason(tmp_path) -> None:
    async with running(server_settings(tmp_path, kernel="HangingKernel", watchdog_seconds=1.0)) as srv:
        await srv.client.post("/v1/jobs?id=stuck", json={**SMALL, "overwrite_step": 4})
        job = await poll(srv.client, "stuck", "failed", timeout=40)
        assert job["error"]["kind"] == "worker_died"
        assert "killed by the watchdog" in job["error"]["message"] and "retried 1 time" in job["error"]["message"]
        assert (await srv.client.get("/health")).status_code == 200


async def test_a_raising_or_out_of_memory_kernel_fails_only_its_task(tmp_path) -> None:
    base = server_settings(tmp_path)
    settings = base.__class__(**{**_fields(base), "worker_kernel": kernel_spec("SelectiveFailureKernel")})
    async with running(settings) as srv:
        pid = (await _worker(srv))["pid"]
        for job_id, prompt, kind, text in (("boom", "[raise] a fox", "internal", "kernel exploded"),
                                           ("oom", "[oom] a fox", "out_of_memory", "out of memory")):
            await srv.client.post(f"/v1/jobs?id={job_id}", json={**SMALL, "prompt": prompt, "image_number": 2})
            await srv.client.post(f"/v1/jobs?id={job_id}-next", json=SMALL)
            job = await poll(srv.client, job_id, "failed")
            assert job["error"]["kind"] == kind and text in job["error"]["message"]
            assert job["error"]["message"].startswith("image 0:") and job["images"] == []
            # The job queued behind it runs on the same worker process.
            assert len((await poll(srv.client, f"{job_id}-next", "succeeded"))["images"]) == 1
        worker = await _worker(srv)
        assert worker["pid"] == pid and worker["restarts"] == 0 and worker["state"] == "idle"
    assert audit(Path(settings.state_dir), Path(settings.outputs_dir)).problems == []
