"""Load against a real `remgo serve`: many queued jobs, SSE subscribers on every job and on all jobs,
clients polling job status. Measures status latency, checks every event reached the right subscriber
exactly once, and the orchestrator's memory across rounds.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from bench.harness.orchestrator_process import REPO, OrchestratorProcess
from bench.harness.settings import SMALL, server_settings

TERMINAL_EVENTS = ("finished", "failed", "cancelled")


async def _sse(client: httpx.AsyncClient, path: str, out: list[tuple[int, str, str]], until_job: str = "") -> None:
    """(event id, type, job id) of every event until the stream ends (one job's), or until the terminal
    event of `until_job` (all jobs')."""
    async with client.stream("GET", path, timeout=None) as r:
        r.raise_for_status()
        kind = None
        async for line in r.aiter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                data = json.loads(line[6:])
                out.append((data.get("id", 0), kind, data["job_id"]))
                if data["job_id"] == until_job and kind in TERMINAL_EVENTS:
                    return


def poll_status(url: str, seed: int) -> None:
    """A status poller, run as its own process (so the latency it sees is the server's, not the SSE
    parsing of the process that runs the subscribers): GET /v1/jobs/{id} of jobs picked at random until
    its stdin closes; then prints its timings as JSON."""
    rng, times, ids = random.Random(seed), [], []
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    with httpx.Client(base_url=url, timeout=60) as client:
        while not stop.is_set():
            if len(times) % 50 == 0:  # learn which jobs exist now (not timed)
                ids = [j["id"] for j in client.get("/v1/jobs?limit=200").json()["jobs"]] or ids
            if not ids:
                time.sleep(0.01)
                continue
            began = time.perf_counter()
            r = client.get(f"/v1/jobs/{rng.choice(ids)}")
            times.append(time.perf_counter() - began if r.status_code == 200 else float("inf"))
            time.sleep(0.002)
    print(json.dumps(times))


def _start_poller(url: str, seed: int) -> subprocess.Popen:
    code = f"from bench.scenarios.load import poll_status; poll_status({url!r}, {seed})"
    return subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})


async def _subscribed(client: httpx.AsyncClient, count: float, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while (_gauge((await client.get("/metrics")).text, "remgo_event_subscribers") or 0) < count:
        assert time.monotonic() < deadline, f"fewer than {count} event subscribers after {timeout} s"
        await asyncio.sleep(0.02)


def check_job_stream(job_id: str, events: list[tuple[int, str, str]]) -> list[str]:
    """What is wrong with one job's stream: foreign events, out of order, doubled, no terminal event."""
    problems = []
    if any(j != job_id for _, _, j in events):
        problems.append(f"{job_id}: received events of other jobs")
    ids = [i for i, _, _ in events if i]
    if ids != sorted(set(ids)):
        problems.append(f"{job_id}: events out of order or twice")
    kinds = [k for _, k, _ in events]
    if not kinds or kinds[-1] not in TERMINAL_EVENTS:
        problems.append(f"{job_id}: the stream did not end with the terminal event")
    elif kinds[0] == "state" and "image_ready" not in kinds:
        problems.append(f"{job_id}: the stream missed the image_ready event")
    return problems


async def load_round(url: str, *, jobs: int, job_subscribers: int, all_subscribers: int, pollers: int,
                     prefix: str, seed: int = 1) -> dict:
    rng = random.Random(seed)
    ids = [f"{prefix}-{n:05d}" for n in range(jobs)]
    watched = set(rng.sample(ids, min(job_subscribers, jobs)))
    limits = httpx.Limits(max_connections=job_subscribers + all_subscribers + pollers + 8)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        sentinel = f"{prefix}-sentinel"  # submitted last: its terminal event ends the all-jobs streams
        everything: list[list[tuple[int, str, str]]] = [[] for _ in range(all_subscribers)]
        before = _gauge((await client.get("/metrics")).text, "remgo_event_subscribers") or 0
        streams = [asyncio.create_task(_sse(client, "/v1/events", out, sentinel)) for out in everything]
        await _subscribed(client, before + all_subscribers)  # every all-jobs stream is in before the first job
        per_job: dict[str, list] = {}
        tasks: list[asyncio.Task] = []
        peak_queue = 0
        polls = [_start_poller(url, seed * 100 + k) for k in range(pollers)]
        gate = asyncio.Semaphore(16)  # submissions in parallel, so the queue outgrows the workers

        async def submit(job_id: str) -> None:
            nonlocal peak_queue
            async with gate:
                r = await client.post(f"/v1/jobs?id={job_id}", json={**SMALL, "image_seed": rng.randrange(1 << 30)})
            r.raise_for_status()
            peak_queue = max(peak_queue, r.json()["position"] + 1)
            if job_id in watched:  # its stream opens with the job's state now, then every later event
                per_job[job_id] = []
                tasks.append(asyncio.create_task(_sse(client, f"/v1/jobs/{job_id}/events", per_job[job_id])))

        began = time.monotonic()
        await asyncio.gather(*(submit(job_id) for job_id in ids))
        submitted_s = time.monotonic() - began
        deadline = time.monotonic() + 60 + jobs
        while time.monotonic() < deadline:
            if (await client.get("/health")).json()["queue_depth"] == 0:
                if not (await client.get("/v1/jobs?status=running&limit=1")).json()["jobs"]:
                    break
            await asyncio.sleep(0.1)
        drained_s = time.monotonic() - began
        times = [t for proc in polls for t in json.loads(proc.communicate(timeout=60)[0] or b"[]")]
        (await client.post(f"/v1/jobs?id={sentinel}", json=SMALL)).raise_for_status()
        done, late = await asyncio.wait([*tasks, *streams], timeout=30)
        for task in late:
            task.cancel()
        failures = [f"a stream failed: {t.exception()!r}" for t in done if t.exception() is not None]
        statuses = [(await client.get(f"/v1/jobs/{i}")).json()["status"] for i in ids]
    problems = failures + ([f"{len(late)} stream(s) did not end"] if late else [])
    problems += [p for job_id, events in per_job.items() for p in check_job_stream(job_id, events)]
    for n, seen in enumerate(everything):
        published = [i for i, _, j in seen if j.startswith(prefix + "-")]
        if published != sorted(set(published)):
            problems.append(f"all-jobs subscriber {n}: events out of order or twice")
        per_job_types = {}
        for _, kind, job_id in seen:
            per_job_types.setdefault(job_id, []).append(kind)
        lost = [j for j in ids if per_job_types.get(j, [None])[-1] not in TERMINAL_EVENTS
                or "queued" not in per_job_types.get(j, [])]
        if lost:
            problems.append(f"all-jobs subscriber {n}: {len(lost)} job(s) without their queued and terminal events")
    times.sort()
    return {
        "jobs": jobs, "subscribers": len(per_job) + all_subscribers, "peak_queue": peak_queue,
        "succeeded": statuses.count("succeeded"), "submit_s": submitted_s, "drain_s": drained_s,
        "status_polls": len(times),
        "status_p50_ms": 1000 * statistics.median(times) if times else None,
        "status_p99_ms": 1000 * times[int(0.99 * (len(times) - 1))] if times else None,
        "events_per_all_subscriber": statistics.median(len(e) for e in everything) if everything else 0,
        "problems": problems,
    }


def measure_load(tmp: Path, *, jobs: int, job_subscribers: int, all_subscribers: int, pollers: int = 4,
                 rounds: int = 2, workers: int = 2, step_delay: float = 0.01) -> dict:
    """`rounds` load rounds against one server; memory is read after a warm-up and after each round."""
    settings = server_settings(tmp, devices=workers, step_delay=step_delay, preview_enabled=False,
                               queue_limit=max(1000, 2 * jobs))
    with OrchestratorProcess(settings, tmp) as orch:
        orch.client.post("/v1/jobs?id=warm-up&wait=true", json=SMALL).raise_for_status()
        rss = [orch.rss_bytes()]
        results = []
        for n in range(rounds):
            results.append(asyncio.run(load_round(orch.url, jobs=jobs, job_subscribers=job_subscribers,
                                                  all_subscribers=all_subscribers, pollers=pollers,
                                                  prefix=f"r{n}", seed=n)))
            time.sleep(1.0)
            rss.append(orch.rss_bytes())
        text = orch.client.get("/metrics").text
    return {"rounds": results, "rss_mb": [r / 2**20 for r in rss],
            "subscribers_left": _gauge(text, "remgo_event_subscribers"),
            "events_lost": _gauge(text, "remgo_events_lost_total")}


def _gauge(text: str, name: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None
