"""The ray backend's WorkerPool without HTTP: start-up failures are reported and retried, the watchdog works."""

from __future__ import annotations

import asyncio

import pytest

from bench.harness.in_process import until
from contract.task import GenerateTask, ModelRef
from orchestrator.pool.handle import WorkerState
from orchestrator.pool.rpc_client import WorkerGone
from orchestrator.pool.worker_pool import WorkerPool
from tests.cluster.ray_harness import ray_settings

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


async def test_an_actor_ray_cannot_place_is_reported_and_retried(tmp_path, ray_test_cluster) -> None:
    settings = ray_settings(tmp_path, ray_test_cluster.address, workers=1, worker_start_timeout=3.0,
                            ray_resources={"no_such_resource": 1.0})
    pool = WorkerPool(settings)
    pool.start()
    try:
        w = pool.workers[0]
        await until(lambda: w.error is not None, 20)
        assert w.error.startswith("no Ray actor (num_gpus=1, num_cpus=0.5, no_such_resource=1) came up"), w.error
        assert w.state is WorkerState.failed and pool.idle_workers() == []
        await until(lambda: w.restarts >= 1, 20)
    finally:
        await asyncio.wait_for(pool.stop(), 120)  # a pending actor does not hold up shutdown for good


async def test_a_worker_command_missing_on_the_node(tmp_path, ray_test_cluster) -> None:
    missing = str(tmp_path / "no-such-worker")
    pool = WorkerPool(ray_settings(tmp_path, ray_test_cluster.address, workers=1, worker_cmd=[missing]))
    pool.start()
    try:
        w = pool.workers[0]
        await until(lambda: w.error is not None, 30)
        assert w.error.startswith(f"cannot run {missing!r}"), w.error
    finally:
        await pool.stop()


async def test_the_watchdog_kills_a_silent_ray_worker_and_its_actor_starts_another(tmp_path, ray_test_cluster):
    settings = ray_settings(tmp_path, ray_test_cluster.address, workers=1, kernel="HangingKernel",
                            watchdog_seconds=1.0)
    pool = WorkerPool(settings)
    pool.start()
    try:
        await until(lambda: pool.idle_workers(), 30)
        w = pool.workers[0]
        pid, actor_pid = w.pid, w.placement.actor_pid
        task = GenerateTask(task_id="hang", base_model=ModelRef(name="m", path="/m"), width=64, height=64,
                            seeds=[1], steps=5)
        w.reserve("job", "hang")
        with pytest.raises(WorkerGone):
            await asyncio.wait_for(w.generate(task), 20)
        w.release()
        await until(lambda: w.restarts == 1 and w.state is WorkerState.idle, 30)
        assert "watchdog" in w.last_exit
        assert w.placement.actor_pid == actor_pid and w.pid != pid  # SIGKILL of the worker, not of the actor
    finally:
        await pool.stop()
    assert all(w.state is WorkerState.stopped and not w.alive for w in pool.workers)
