"""Workers that break the protocol: the orchestrator stays up, keeps the job, and names the reason.

bench/harness/fake_worker.py plays each broken worker; PrintingKernel is the real worker with a
library that prints to stdout (the stdout guard keeps frames clean).
"""

import asyncio
import sys
from pathlib import Path

import pytest

from bench.harness.disk_audit import audit
from bench.harness.in_process import poll, running
from bench.harness.settings import SMALL, server_settings
from bench.scenarios.protocol import FAKE, START_FAILURES, failed_start

pytestmark = pytest.mark.anyio


async def test_workers_that_break_the_protocol_at_start(tmp_path) -> None:
    results = await asyncio.gather(*(failed_start(tmp_path / mode, mode) for mode in START_FAILURES))
    for found in results:
        mode, worker = found["mode"], found["worker"]
        assert found["health"] == 200, mode
        assert worker["state"] == "failed" and START_FAILURES[mode] in (worker["error"] or ""), (mode, worker)
        assert found["job_status"] == "queued", mode  # the job waits for a worker that works; nothing is dropped


async def test_a_worker_that_dies_mid_task_writing_garbage(tmp_path) -> None:
    settings = server_settings(tmp_path, worker_cmd=[sys.executable, str(FAKE), "crash-mid-task"])
    async with running(settings) as srv:
        await srv.client.post("/v1/jobs?id=j", json=SMALL)
        job = await poll(srv.client, "j", "failed")
        assert job["error"]["kind"] == "worker_died" and "retried 1 time" in job["error"]["message"]
        worker = (await srv.client.get("/v1/workers")).json()["workers"][0]
        assert worker["last_exit"] == "exited with code 7" and worker["restarts"] >= 2
        assert (await srv.client.get("/health")).status_code == 200


async def test_a_worker_answering_a_malformed_result(tmp_path) -> None:
    settings = server_settings(tmp_path, worker_cmd=[sys.executable, str(FAKE), "bad-result"])
    async with running(settings) as srv:
        await srv.client.post("/v1/jobs?id=j", json=SMALL)
        job = await poll(srv.client, "j", "failed")
        assert job["error"]["kind"] == "internal" and "$.images" in job["error"]["message"]
        assert (await srv.client.get("/v1/workers")).json()["workers"][0]["state"] == "idle"


async def test_a_library_printing_to_stdout_inside_the_real_worker(tmp_path) -> None:
    settings = server_settings(tmp_path, kernel="PrintingKernel")
    async with running(settings) as srv:
        await srv.client.post("/v1/jobs?id=p", json={**SMALL, "image_number": 2})
        job = await poll(srv.client, "p", "succeeded")
        assert [i["status"] for i in job["images"]] == ["done", "done"]
        worker = srv.services.pool.workers[0]
        assert worker.restarts == 0 and worker.rpc.last_problem is None  # no stray line reached the protocol
        assert any("must not reach the protocol stream" in line for line in worker.stderr_tail)
    assert audit(Path(settings.state_dir), Path(settings.outputs_dir)).problems == []


async def test_a_worker_written_before_framing_keeps_sending_base64(tmp_path) -> None:
    settings = server_settings(tmp_path, worker_cmd=[sys.executable, str(FAKE), "instant"])
    async with running(settings) as srv:
        await srv.client.post("/v1/jobs?id=j", json={**SMALL, "image_number": 2})
        job = await poll(srv.client, "j", "succeeded")
        worker = srv.services.pool.workers[0]
        assert worker.attachments is False and worker.rpc.last_problem is None
        for image in job["images"]:
            saved = await srv.client.get(image["url"])
            assert saved.content[:8] == b"\x89PNG\r\n\x1a\n"  # the worker's 1×1 PNG, from its base64


async def test_a_worker_cut_off_inside_its_attachments(tmp_path) -> None:
    settings = server_settings(tmp_path, worker_cmd=[sys.executable, str(FAKE), "cut-attachments"])
    async with running(settings) as srv:
        await srv.client.post("/v1/jobs?id=j", json=SMALL)
        job = await poll(srv.client, "j", "failed")
        assert job["error"]["kind"] == "worker_died"
        assert "its output broke the protocol: the output ended inside a frame's attachments" in job["error"]["message"]
        assert srv.services.pool.workers[0].attachments is True  # asked again at each respawn
        assert (await srv.client.get("/health")).status_code == 200
