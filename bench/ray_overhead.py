"""What the ray backend costs over local worker processes, measured side by side on the same tiny model.

One worker per backend, the real diffusers kernel on a small random-weight SDXL (`--make-demo-model`), the
orchestrator's own WorkerPool and WorkerHandle; the Ray side is a private one-node cluster on 127.0.0.1.
Printed for each backend, and the ratio ray / local:
  1. worker start-up: pool start → the worker's kernel ready (s);
  2. progress latency: the kernel reporting a step → the pool's on_progress callback (median ms); the
     worker stamps the wall time just before each notification (StampedDiffusersKernel below);
  3. overhead per job: the orchestrator's wall time for `generate` − the worker's own task time
     (median ms; the image travels back inside the answer).

    python bench/ray_overhead.py [--jobs 12] [--steps 4] [--size 256]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


# ----- the worker side: the diffusers kernel, stamping the time of each step notification --------------

class _StampedSteps:
    def __init__(self, inner, task_id: str, out) -> None:
        self._inner, self._task_id, self._out = inner, task_id, out

    def step(self, step: int, steps_total: int, preview: bytes | None = None) -> None:
        self._out.write(f"{self._task_id} {step} {time.time():.6f}\n")
        self._inner.step(step, steps_total, preview)

    def __getattr__(self, name: str):
        return getattr(self._inner, name)


def _stamped_kernel_class() -> type:
    from inference_worker.diffusers_kernel.kernel import DiffusersKernel

    class StampedDiffusersKernel(DiffusersKernel):
        def generate_image(self, task, index, seed, steps):
            out = open(os.environ["REMGO_BENCH_STAMPS"], "a", buffering=1)  # noqa: SIM115 - closed below
            try:
                return super().generate_image(task, index, seed, _StampedSteps(steps, task.task_id, out))
            finally:
                out.close()

    return StampedDiffusersKernel


def __getattr__(name: str):
    # The worker resolves `this file:StampedDiffusersKernel`; built lazily so the bench itself stays torch-free.
    if name == "StampedDiffusersKernel":
        return _stamped_kernel_class()
    raise AttributeError(name)


# ----- the orchestrator side --------------------------------------------------------------------------

def _task(model: Path, i: int, steps: int, size: int):
    from contract.task import GenerateTask, ModelRef, Sampler, Scheduler

    return GenerateTask(task_id=f"bench{i}", base_model=ModelRef(name=model.name, path=str(model)), width=size,
                        height=size, seeds=[1000 + i], positive=["a lighthouse at dusk"], steps=steps,
                        sampler=Sampler.euler, scheduler=Scheduler.karras)


async def _measure(settings, model: Path, stamps: Path, jobs: int, steps: int, size: int) -> dict[str, float]:
    from orchestrator.pool.worker_pool import WorkerPool

    arrivals: dict[tuple[str, int], float] = {}
    pool = WorkerPool(settings)
    pool.on_progress = lambda worker, p: arrivals.setdefault((p.task_id, p.step), time.time())
    began = time.perf_counter()
    pool.start()
    try:
        deadline = time.monotonic() + 600
        while not pool.idle_workers():
            if time.monotonic() > deadline:
                raise RuntimeError(f"the worker did not start: {pool.workers[0].error}")
            await asyncio.sleep(0.02)
        startup = time.perf_counter() - began
        worker = pool.workers[0]
        for i in range(2):  # warm-up: model load, first-run allocations
            await worker.generate(_task(model, -1 - i, steps, size))
        overheads = []
        for i in range(jobs):
            t0 = time.perf_counter()
            result = await worker.generate(_task(model, i, steps, size))
            overheads.append((time.perf_counter() - t0 - result.timings.total) * 1000)
    finally:
        await pool.stop()
    delays = []
    for line in stamps.read_text().splitlines():
        task_id, step, sent = line.split()
        if not task_id.startswith("bench-") and (task_id, int(step)) in arrivals:
            delays.append((arrivals[(task_id, int(step))] - float(sent)) * 1000)
    return {"startup": startup, "progress": statistics.median(delays), "overhead": statistics.median(overheads),
            "events": len(delays)}


def _settings(work: Path, backend: str, stamps: Path, **extra):
    from orchestrator.settings import Settings

    env = {"REMGO_BENCH_STAMPS": str(stamps), "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    return Settings(state_dir=str(work / "state"), outputs_dir=str(work / "outputs"), catalog_dir=str(work / "catalog"),
                    model_roots=[str(work / "models")], worker_kernel=f"{Path(__file__).resolve()}:StampedDiffusersKernel",
                    worker_threads=1, worker_env=env, worker_start_timeout=600, watchdog_seconds=600, backend=backend,
                    **extra)


class _RayHead:
    """A private one-node Ray cluster on 127.0.0.1, everything it writes under `root`, usage stats off."""

    def __init__(self, root: Path) -> None:
        (root / "ray").mkdir(parents=True)
        token = root / "auth_token"
        token.write_text(secrets.token_hex(32))
        os.environ.update(RAY_TMPDIR=str(root), RAY_AUTH_TOKEN_PATH=str(token))
        from ray.cluster_utils import Cluster

        self.cluster = Cluster(initialize_head=True, head_node_args=dict(
            num_cpus=2, node_ip_address="127.0.0.1", include_dashboard=False, temp_dir=str(root),
            object_store_memory=80 * 1024 * 1024))

    def stop(self) -> None:
        self.cluster.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=12, help="timed jobs per backend (after 2 warm-up jobs)")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args()
    # Read when ray is imported: keep "this node" on loopback, token auth, no usage stats.
    os.environ.update(RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="token")
    try:
        import ray  # noqa: F401
    except ImportError:
        sys.exit("bench/ray_overhead.py needs ray: pip install 'remgo[cluster]'")
    with tempfile.TemporaryDirectory(prefix="rgb-", dir="/tmp") as tmp:  # short: Ray's socket paths
        work = Path(tmp)
        model = work / "models" / "checkpoints" / "bench-tiny.safetensors"
        subprocess.run([sys.executable, "-m", "inference_worker", "--make-demo-model", str(model)], check=True,
                       cwd=REPO, stdout=subprocess.DEVNULL)
        local_stamps, ray_stamps = work / "local.stamps", work / "ray.stamps"
        local = asyncio.run(_measure(_settings(work, "local", local_stamps), model, local_stamps,
                                     args.jobs, args.steps, args.size))
        head = _RayHead(work / "r")
        try:
            remote = asyncio.run(_measure(
                _settings(work, "ray", ray_stamps, workers=1, devices=["cpu"], ray_address=head.cluster.address,
                          ray_num_gpus=0.0, ray_num_cpus=1.0),
                model, ray_stamps, args.jobs, args.steps, args.size))
        finally:
            head.stop()
    rows = [("worker start-up (s)", "startup", "{:.2f}"), ("progress latency, kernel → pool (median ms)", "progress",
            "{:.2f}"), ("overhead per job, beyond the worker's time (median ms)", "overhead", "{:.2f}")]
    width = max(len(r[0]) for r in rows)
    print(f"tiny SDXL {args.size}x{args.size}, {args.steps} steps, {args.jobs} jobs, "
          f"{local['events']}/{remote['events']} progress events (local/ray)")
    print(f"{'figure':<{width}}  {'local':>8}  {'ray':>8}  {'ray/local':>9}")
    for name, key, fmt in rows:
        ratio = remote[key] / local[key] if local[key] else float("inf")
        print(f"{name:<{width}}  {fmt.format(local[key]):>8}  {fmt.format(remote[key]):>8}  {ratio:>9.2f}")


if __name__ == "__main__":
    main()
