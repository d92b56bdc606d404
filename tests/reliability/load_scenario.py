"""Load against a real `remgo serve`: many queued jobs, SSE subscribers on every job and on all jobs,
clients polling job status. Measures status latency, checks every event reached the right subscriber
exactly once, and the orchestrator's memory across rounds.
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import time
from pathlib import Path

import httpx

from tests.integration.server_harness import SMALL, server_settings
from tests.reliability.crash_scenarios import TERMINAL
from tests.reliability.orchestrator_process import OrchestratorProcess

TERMINAL_EVENTS = ("finished", "failed", "cancelled")


async def _sse(client: httpx.AsyncClient, path: str, stop: asyncio.Event, out: list[tuple[int, str, str]]) -> None:
    """(event id, type, job id) of every event until the stream ends (one job) or `stop` is set (all jobs)."""
    async with client.stream("GET", path, timeout=None) as r:
        r.raise_for_status()
        kind = None
        async for line in r.aiter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                data = json.loads(line[6:])
                out.append((data.get("id", 0), kind, data["job_id"]))
                if stop.is_set() and path == "/v1/events" and data["job_id"] == "load-sentinel":
                    return


async def _poll(client: httpx.AsyncClient, ids: list[str], stop: asyncio.Event, times: list[float],
                rng: random.Random) -> None:
    while not stop.is_set():
        began = time.perf_counter()
        r = await client.get(f"/v1/jobs/{rng.choice(ids)}")
        times.append(time.perf_counter() - began)
        r.raise_for_status()
        await asyncio.sleep(0.002)


def check_job_stream(job_id: str, events: list[tuple[int, str, str]]) -> list[str]:
    """What is wrong with one job's stream: foreign events, out of order, doubled, no terminal event."""
    problems = []
    if any(j != job_id for _, _, j in events):
        problems.append(f"{job_id}: received events of other jobs")
    ids = [i for i, _, _ in events if i]
    if ids != sorted(set(ids)):
        problems.append(f"{job_id}: events out of order or twice")
    if not events or events[-1][1] not in TERMINAL_EVENTS:
        problems.append(f"{job_id}: the stream did not end with the terminal event")
    return problems


async def load_round(url: str, *, jobs: int, job_subscribers: int, all_subscribers: int, pollers: int,
                     prefix: str, seed: int = 1) -> dict:
    rng = random.Random(seed)
    ids = [f"{prefix}-{n:05d}" for n in range(jobs)]
    watched = set(rng.sample(ids, min(job_subscribers, jobs)))
    limits = httpx.Limits(max_connections=job_subscribers + all_subscribers + pollers + 8)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        stop = asyncio.Event()
        everything: list[list[tuple[int, str, str]]] = [[] for _ in range(all_subscribers)]
        streams = [asyncio.create_task(_sse(client, "/v1/events", stop, out)) for out in everything]
        await asyncio.sleep(0.5)  # the all-jobs subscribers are in before the first job
        per_job: dict[str, list] = {}
        tasks: list[asyncio.Task] = []
        peak_queue = 0
        began = time.monotonic()
        for job_id in ids:
            if job_id in watched:  # subscribed first, so the stream has the job from `queued` on
                per_job[job_id] = []
                tasks.append(asyncio.create_task(_sse(client, f"/v1/jobs/{job_id}/events", stop, per_job[job_id])))
            r = await client.post(f"/v1/jobs?id={job_id}", json={**SMALL, "image_seed": rng.randrange(1 << 30)})
            r.raise_for_status()
            peak_queue = max(peak_queue, r.json()["position"] + 1)
        submitted_s = time.monotonic() - began
        times: list[float] = []
        polls = [asyncio.create_task(_poll(client, ids, stop, times, random.Random(seed + k))) for k in range(pollers)]
        while True:
            counts = (await client.get("/health")).json()
            if counts["queue_depth"] == 0 and all(not t.done() or t.exception() is None for t in tasks):
                listed = (await client.get("/v1/jobs?status=running&limit=1")).json()["jobs"]
                if not listed:
                    break
            await asyncio.sleep(0.1)
        drained_s = time.monotonic() - began
        await asyncio.wait_for(asyncio.gather(*tasks), 60)
        stop.set()
        await asyncio.gather(*polls)
        await client.post("/v1/jobs?id=load-sentinel-" + prefix, json=SMALL)  # ends the all-jobs streams
        for task in streams:
            task.cancel()
        await asyncio.gather(*streams, return_exceptions=True)
        statuses = [(await client.get(f"/v1/jobs/{i}")).json()["status"] for i in ids]
    problems = [p for job_id, events in per_job.items() for p in check_job_stream(job_id, events)]
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
                 rounds: int = 2, workers: int = 2) -> dict:
    """`rounds` load rounds against one server; memory is read after a warm-up and after each round."""
    settings = server_settings(tmp, devices=workers, preview_enabled=False, queue_limit=max(1000, 2 * jobs))
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
        subscribers_left = _gauge(orch.client.get("/metrics").text, "remgo_event_subscribers")
    return {"rounds": results, "rss_mb": [r / 2**20 for r in rss], "subscribers_left": subscribers_left,
            "terminal": TERMINAL}


def _gauge(text: str, name: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None
