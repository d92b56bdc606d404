"""Orchestration figures, measured against a real `remgo serve` process and real worker processes.

The workers run `StampKernel` (below): a flat image and a sleep per step, so what is measured is the
orchestrator, not a model. Printed:
  1. overhead per job: end-to-end latency (POST ?wait=true, client side) − the worker's own task time,
     median over N one-image jobs (target ≤ 15 ms);
  2. progress latency: the worker writing a progress notification → the SSE client reading it
     (median; target ≤ 10 ms);
  3. jobs/s with 1 worker and with 2 workers (sleep-bound steps, so the ratio shows dispatch scaling);
  4. the orchestrator's resident memory (the workers are separate processes).

    python bench/orchestration.py [--jobs 60] [--progress-jobs 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

try:
    from _server import BenchKernel, Server  # run as a script: bench/ is on sys.path
except ImportError:  # loaded by a worker as its kernel file, with the repository on PYTHONPATH
    from bench._server import BenchKernel, Server

SIZE = 256  # the normalizer's smallest image side


class StampKernel(BenchKernel):
    """A kernel for timing only: a flat image; before each step's notification, the wall time is logged."""

    name = "stamp"

    def __init__(self, options) -> None:
        self.delay = float(os.environ.get("REMGO_BENCH_STEP_DELAY", "0") or 0)
        stamps = os.environ.get("REMGO_BENCH_STAMPS")
        self.stamps = open(stamps, "a", buffering=1) if stamps else None  # noqa: SIM115 - lives with the worker

    def generate_image(self, task, index, seed, steps):
        from PIL import Image

        for step in range(1, task.steps + 1):
            if self.delay:
                time.sleep(self.delay)
            if self.stamps is not None:
                self.stamps.write(f"{task.task_id} {step} {time.time():.6f}\n")
            steps.step(step, task.steps)
        return Image.new("RGB", (task.width, task.height), (seed % 256, 80, 160))



def _server(workdir: Path, devices: int, step_delay: float, stamps: Path | None = None) -> Server:
    env = {"REMGO_BENCH_STEP_DELAY": str(step_delay)}
    if stamps is not None:
        env["REMGO_BENCH_STAMPS"] = str(stamps)
    server = Server(workdir, f"{Path(__file__).resolve()}:StampKernel", devices=devices, env=env)
    return server


def body(steps: int, seed: int) -> dict:
    return {"prompt": "bench", "base_model_name": "bench.safetensors", "image_number": 1, "image_seed": seed,
            "overwrite_width": SIZE, "overwrite_height": SIZE, "overwrite_step": steps, "style_selections": [],
            "loras": []}


def overhead(workdir: Path, jobs: int) -> tuple[float, float, float]:
    """Median (end-to-end − worker task time) in ms over `jobs` sequential one-image, one-step jobs."""
    import httpx

    server = _server(workdir, devices=1, step_delay=0.0)
    try:
        with httpx.Client(timeout=60) as client:
            server.wait_ready(client)
            for i in range(5):  # warm-up: first-time imports and caches
                client.post(f"{server.url}/v1/jobs?wait=true", json=body(1, i))
            overheads, latencies = [], []
            for i in range(jobs):
                began = time.perf_counter()
                job = client.post(f"{server.url}/v1/jobs?wait=true", json=body(1, 100 + i)).json()
                latency = time.perf_counter() - began
                kernel = sum(img.get("kernel_seconds", 0.0) for img in job["images"])
                latencies.append(latency * 1000)
                overheads.append((latency - kernel) * 1000)
            rss = server.rss_mib()
    finally:
        server.stop()
    return statistics.median(overheads), statistics.median(latencies), rss


async def _progress(server: Server, jobs: int, steps: int) -> list[tuple[str, int, float]]:
    import httpx

    received: list[tuple[str, int, float]] = []
    async with httpx.AsyncClient(timeout=60) as client:
        for i in range(jobs):
            job_id = f"p{i}"
            await client.post(f"{server.url}/v1/jobs?id={job_id}", json=body(steps, 1000 + i))
            async with client.stream("GET", f"{server.url}/v1/jobs/{job_id}/events") as response:
                kind = None
                async for line in response.aiter_lines():
                    if line.startswith("event: "):
                        kind = line[7:]
                    elif line.startswith("data: ") and kind == "progress":
                        now = time.time()
                        progress = json.loads(line[6:])["progress"]
                        if progress.get("image_step"):
                            received.append((job_id, progress["image_step"], now))
    return received


def progress_latency(workdir: Path, jobs: int, steps: int = 10) -> float:
    """Median ms from the worker's notification to the SSE client, over `jobs` × `steps` events."""
    import httpx

    stamps = workdir / "stamps.txt"
    server = _server(workdir, devices=1, step_delay=0.02, stamps=stamps)
    try:
        with httpx.Client(timeout=60) as client:
            server.wait_ready(client)
        received = asyncio.run(_progress(server, jobs, steps))
    finally:
        server.stop()
    sent: dict[tuple[str, int], float] = {}
    for line in stamps.read_text().splitlines():
        task_id, step, t = line.split()
        sent[(task_id.split("-")[0], int(step))] = float(t)
    delays = [(t - sent[(job, step)]) * 1000 for job, step, t in received if (job, step) in sent]
    return statistics.median(delays)


async def _burst(server: Server, jobs: int, steps: int) -> float:
    import httpx

    async with httpx.AsyncClient(timeout=120) as client:
        began = time.perf_counter()
        ids = [(await client.post(f"{server.url}/v1/jobs", json=body(steps, i))).json()["id"] for i in range(jobs)]
        for job_id in ids:
            while (await client.get(f"{server.url}/v1/jobs/{job_id}")).json()["status"] != "succeeded":
                await asyncio.sleep(0.02)
        return jobs / (time.perf_counter() - began)


def throughput(workdir: Path, devices: int, jobs: int, steps: int = 5, delay: float = 0.02) -> float:
    import httpx

    server = _server(workdir, devices=devices, step_delay=delay)
    try:
        with httpx.Client(timeout=60) as client:
            server.wait_ready(client)
        return asyncio.run(_burst(server, jobs, steps))
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=60, help="jobs for the overhead median (≥ 50)")
    parser.add_argument("--progress-jobs", type=int, default=10)
    parser.add_argument("--burst", type=int, default=40, help="jobs per throughput run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="remgo-bench-") as tmp:
        workdir = Path(tmp)
        over, latency, rss = overhead(workdir, args.jobs)
        prog = progress_latency(workdir, args.progress_jobs)
        one = throughput(workdir, 1, args.burst)
        two = throughput(workdir, 2, args.burst)
    rows = [
        ("overhead per job (median, ms)", f"{over:.2f}", "≤ 15", over <= 15),
        ("  end-to-end latency (median, ms)", f"{latency:.2f}", "", None),
        ("progress latency worker → SSE (median, ms)", f"{prog:.2f}", "≤ 10", prog <= 10),
        ("jobs/s, 1 worker (5 steps × 20 ms)", f"{one:.2f}", "", None),
        ("jobs/s, 2 workers", f"{two:.2f}", "", None),
        ("  ratio 2 workers / 1", f"{two / one:.2f}", "≈ 2", None),
        ("orchestrator RSS (MiB)", f"{rss:.1f}", "", None),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'figure':<{width}}  {'value':>9}  {'target':>7}  met")
    for name, value, target, ok in rows:
        mark = "" if ok is None else ("yes" if ok else "NO")
        print(f"{name:<{width}}  {value:>9}  {target:>7}  {mark}")


if __name__ == "__main__":
    main()
