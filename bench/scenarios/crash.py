"""Kill -9 scenarios against a real `remgo serve` process: a worker at a random step, the orchestrator
with a full queue. Each returns its figures; the tests run them small, bench/reliability.py long.
"""

from __future__ import annotations

import os
import random
import signal
import statistics
import time
from pathlib import Path

import httpx

from bench.harness.disk_audit import audit
from bench.harness.orchestrator_process import OrchestratorProcess
from bench.harness.settings import SMALL, server_settings
from orchestrator.settings import Settings

TERMINAL = ("succeeded", "failed", "cancelled")


def settle(client: httpx.Client, job_ids: list[str], timeout: float) -> dict[str, dict]:
    """Every job as it is once all are terminal, or as they are when `timeout` runs out."""
    deadline = time.monotonic() + timeout
    jobs: dict[str, dict] = {}
    while True:
        for job_id in job_ids:
            if jobs.get(job_id, {}).get("status") not in TERMINAL:
                jobs[job_id] = client.get(f"/v1/jobs/{job_id}").json()
        if all(j["status"] in TERMINAL for j in jobs.values()) or time.monotonic() > deadline:
            return jobs
        time.sleep(0.05)


def _worker(client: httpx.Client, name: str) -> dict:
    return next(w for w in client.get("/v1/workers").json()["workers"] if w["name"] == name)


def kill_workers_mid_step(tmp: Path, *, kills: int, workers: int = 2, steps: int = 12, seed: int = 8) -> dict:
    """Per round: a two-image job; at a random step of it, SIGKILL the worker making that step."""
    rng = random.Random(seed)
    settings = server_settings(tmp, devices=workers, step_delay=0.03, preview_enabled=False)
    back: list[float] = []
    ids: list[str] = []
    missed = 0
    with OrchestratorProcess(settings, tmp) as orch:
        c = orch.client
        for n in range(kills):
            job_id = f"wk{n}"
            ids.append(job_id)
            c.post(f"/v1/jobs?id={job_id}", json={**SMALL, "overwrite_step": steps, "image_number": 2,
                                                  "image_seed": 5000 + 10 * n}).raise_for_status()
            target = rng.randint(1, steps - 1)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                job = c.get(f"/v1/jobs/{job_id}").json()
                p = job["progress"]
                if job["status"] in TERMINAL or (p.get("image_step") or 0) >= target and p.get("worker"):
                    break
                time.sleep(0.005)
            if job["status"] in TERMINAL:
                missed += 1
                continue
            victim = _worker(c, p["worker"])
            os.kill(victim["pid"], signal.SIGKILL)
            killed_at = time.monotonic()
            while time.monotonic() - killed_at < 30:
                w = _worker(c, victim["name"])
                if w["state"] in ("idle", "busy") and w["pid"] not in (None, victim["pid"]):
                    back.append(time.monotonic() - killed_at)
                    break
                time.sleep(0.02)
            orch.remember_workers()
            settle(c, [job_id], 60)
        jobs = settle(c, ids, 60)
        metrics = c.get("/metrics").text
    found = audit(settings_dir(settings, "state"), settings_dir(settings, "outputs"))
    statuses = [j["status"] for j in jobs.values()]
    return {
        "kills": kills - missed, "missed": missed, "jobs": len(jobs),
        "succeeded": statuses.count("succeeded"), "failed": statuses.count("failed"),
        "failed_without_reason": sum(1 for j in jobs.values() if j["status"] == "failed" and not j.get("error")),
        "respawn_median_s": statistics.median(back) if back else None, "respawn_max_s": max(back, default=None),
        "not_back": kills - missed - len(back),
        "retries": _metric(metrics, "remgo_task_retries_total"),
        "problems": found.problems, "jobs_detail": jobs,
    }


def kill_orchestrator_with_queue(tmp: Path, *, queued: int, kills: int = 1, seed: int = 9) -> dict:
    """Queue `queued` jobs behind a running one, SIGKILL the orchestrator (`kills` times, at random
    moments of the drain), start it again each time; at the end every job must have run."""
    rng = random.Random(seed)
    slow = server_settings(tmp, step_delay=0.05, preview_enabled=False)
    fast = server_settings(tmp, step_delay=0.0, preview_enabled=False)
    ids = [f"oj{n:04d}" for n in range(queued + 1)]
    with OrchestratorProcess(slow, tmp) as orch:
        c = orch.client
        c.post(f"/v1/jobs?id={ids[0]}", json={**SMALL, "overwrite_step": 10}).raise_for_status()
        for n, job_id in enumerate(ids[1:], 1):
            c.post(f"/v1/jobs?id={job_id}", json={**SMALL, "image_seed": 100 + n}).raise_for_status()
        deadline = time.monotonic() + 30
        while c.get(f"/v1/jobs/{ids[0]}").json()["progress"]["step"] < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        depth_at_kill = c.get("/health").json()["queue_depth"]
        orch.kill9()
        orch.reap_workers()
    for _ in range(kills - 1):  # later kills land anywhere in the drain, saving included
        with OrchestratorProcess(fast, tmp) as orch:
            time.sleep(rng.uniform(0.05, 1.0))
            orch.kill9()
            orch.reap_workers()
    began = time.monotonic()
    with OrchestratorProcess(fast, tmp) as orch:
        jobs = settle(orch.client, ids, 120)
        drained_s = time.monotonic() - began
    found = audit(settings_dir(fast, "state"), settings_dir(fast, "outputs"))
    statuses = [j["status"] for j in jobs.values()]
    return {
        "jobs": len(ids), "queued_at_kill": depth_at_kill, "kills": kills,
        "succeeded": statuses.count("succeeded"), "other": len(ids) - statuses.count("succeeded"),
        "resumed_attempts": jobs[ids[0]].get("attempts"), "drain_s": drained_s,
        "files": len(found.files), "indexed": len(found.indexed), "problems": found.problems, "jobs_detail": jobs,
    }


def settings_dir(settings: Settings, which: str) -> Path:
    return Path(settings.state_dir if which == "state" else settings.outputs_dir)


def _metric(text: str, name: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return None
