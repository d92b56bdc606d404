"""What `remgo serve` prints while it works: one line for each step of each job (submitted, started on a
worker, finished with its time, cancelled or failed with why), and not the page's /health polls."""

from __future__ import annotations

import re
import signal
import time

import httpx
import pytest

from bench.harness.in_process import running
from bench.harness.settings import SMALL, server_settings
from bench.harness.worker_kernels import HOLD
from tests.integration.test_cli_serve import _ready, _serve


def _wait_status(url: str, job_id: str, status: str) -> None:
    deadline = time.monotonic() + 30
    while httpx.get(f"{url}/v1/jobs/{job_id}").json()["status"] != status:
        assert time.monotonic() < deadline, f"job {job_id} never became {status}"
        time.sleep(0.05)


def test_the_terminal_shows_each_job_and_no_health_polls(tmp_path) -> None:
    proc, url = _serve(tmp_path, "state", "--log-level", "info")
    try:
        _ready(proc, url)  # polls /health until ready
        for _ in range(3):
            assert httpx.get(f"{url}/health").status_code == 200
        done = httpx.post(f"{url}/v1/jobs?wait=true&id=log-ok", json=SMALL, timeout=30).json()
        assert done["status"] == "succeeded"
        # one worker: the held job runs, the next one waits in the queue; both are cancelled
        assert httpx.post(f"{url}/v1/jobs?id=log-held", json={**SMALL, "prompt": HOLD}).status_code == 202
        _wait_status(url, "log-held", "running")
        assert httpx.post(f"{url}/v1/jobs?id=log-queued", json=SMALL).status_code == 202
        assert httpx.post(f"{url}/v1/jobs/log-queued/cancel", timeout=30).json()["status"] == "cancelled"
        assert httpx.post(f"{url}/v1/jobs/log-held/cancel", timeout=30).json()["status"] == "cancelled"
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    jobs = [line.split(" INFO ", 1)[1] for line in out.splitlines() if " remgo.jobs INFO " in line]
    assert jobs[0] == "job log-ok submitted: 1 image 256x256, 3 steps, tiny.safetensors (0 jobs ahead in the queue)"
    assert jobs[1] == "job log-ok started on worker w0 (cpu)"
    assert re.fullmatch(r"job log-ok finished in \d+\.\d s: 1 image \(waited \d+\.\d s in the queue\)", jobs[2])
    assert jobs[3].startswith("job log-held submitted: ") and jobs[4] == "job log-held started on worker w0 (cpu)"
    assert jobs[5].startswith("job log-queued submitted: ") and jobs[5].endswith("(0 jobs ahead in the queue)")
    assert jobs[6] == "job log-queued cancelled on request while queued"
    assert re.fullmatch(r"job log-held cancelled on request after \d+\.\d s \(0 of 1 images made\)", jobs[7])
    assert len(jobs) == 8, jobs
    # the page's polls are gone from the log; every other request is still there
    assert "/health" not in out, out[-3000:]
    assert '"POST /v1/jobs?wait=true&id=log-ok HTTP/1.1" 200' in out
    assert '"POST /v1/jobs/log-held/cancel HTTP/1.1" 200' in out


@pytest.mark.anyio
async def test_a_failed_job_says_why(tmp_path, caplog) -> None:
    caplog.set_level("INFO", logger="remgo.jobs")
    async with running(server_settings(tmp_path, kernel="RaisingKernel")) as srv:
        job = (await srv.client.post("/v1/jobs?wait=true&id=log-bad", json=SMALL)).json()
        assert job["status"] == "failed"
    lines = [r.getMessage() for r in caplog.records if r.name == "remgo.jobs"]
    assert lines[:2] == ["job log-bad submitted: 1 image 256x256, 3 steps, tiny.safetensors (0 jobs ahead in the queue)",
                         "job log-bad started on worker w0 (cpu)"]
    assert re.fullmatch(r"job log-bad failed after \d+\.\d s \(0 of 1 images made\): \w+: image 0: .*"
                        r"kernel exploded at step \d+ of image 0.*", lines[2]), lines
    assert len(lines) == 3
