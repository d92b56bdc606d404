"""Start an orchestrator on a worker that breaks the protocol (bench/harness/fake_worker.py) and
see what it reports: the test asserts it, bench/reliability.py times it."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from bench.harness.in_process import running
from bench.harness.settings import SMALL, server_settings

FAKE = Path(__file__).resolve().parents[1] / "harness" / "fake_worker.py"
START_TIMEOUT = 2.0
# mode → words the worker's `error` must contain once it is reported failed.
START_FAILURES = {
    "exit-at-start": "exited during start-up: fake worker: refusing to start",
    "garbage": "its output broke the protocol: an unreadable frame",
    "half-line": f"not ready after {START_TIMEOUT:g} s",
    "huge-line": "its output broke the protocol: an unreadable frame",
    "bad-health": "answered `health` with a malformed result",
    "wrong-version": "speaks contract version 999, the orchestrator speaks 2",
}
# Only for the bench: a line that never ends fills the reader's buffer (256 MiB) before it gives up.
SLOW_START_FAILURES = {"endless-line": "a line longer than the frame limit"}


async def failed_start(tmp: Path, mode: str, timeout: float = 20.0) -> dict:
    """Serve with the broken worker and a job queued; poll until the worker is reported failed."""
    settings = server_settings(tmp, worker_cmd=[sys.executable, str(FAKE), mode], worker_start_timeout=START_TIMEOUT)
    async with running(settings, ready=False) as srv:
        await srv.client.post("/v1/jobs?id=kept", json=SMALL)
        began = time.monotonic()
        while True:
            worker = (await srv.client.get("/v1/workers")).json()["workers"][0]
            if (worker["state"] == "failed" and worker["error"]) or time.monotonic() - began > timeout:
                break
            await asyncio.sleep(0.05)
        seconds = time.monotonic() - began
        health = await srv.client.get("/health")
        job = (await srv.client.get("/v1/jobs/kept")).json()
    return {"mode": mode, "worker": worker, "job_status": job["status"], "health": health.status_code,
            "reported_s": seconds}
