"""WorkerPool with real worker processes: non-blocking start, respawn with backoff, watchdog."""

import asyncio
import os
import signal
import sys

import pytest

from bench.harness.in_process import until
from bench.harness.settings import pool_settings
from contract.task import GenerateTask, ModelRef
from orchestrator.pool.command import worker_command
from orchestrator.pool.handle import WorkerState
from orchestrator.pool.rpc_client import WorkerGone
from orchestrator.pool.worker_pool import WorkerPool
from orchestrator.settings import Settings

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend():
    return "asyncio"


def test_worker_command_carries_every_setting() -> None:
    s = Settings(worker_cmd=["remgo-worker"], worker_kernel="k:K", worker_threads=3, allow_unsafe_pickles=True)
    assert worker_command(s, "cuda:1", ["/a", "/b"]) == [
        "remgo-worker", "--device", "cuda:1", "--kernel", "k:K", "--threads", "3",
        "--model-root", "/a", "--model-root", "/b", "--allow-pickle"]
    assert "--allow-pickle" not in worker_command(Settings(worker_cmd=["w"]), "cpu", [])


async def test_start_does_not_block_and_workers_come_up_together(tmp_path) -> None:
    changes = []
    healths = []
    pool = WorkerPool(pool_settings(tmp_path, devices=2), on_change=lambda: changes.append(1),
                      on_health=healths.append)
    pool.start()
    # start() returned before any worker could answer its first health: it did not wait for them
    assert all(w.state is WorkerState.starting and w.health is None for w in pool.workers)
    try:
        assert await pool.wait_ready(30)
        await until(lambda: len(pool.idle_workers()) == 2)
        assert {w.name for w in pool.workers} == {"w0", "w1"}
        assert all(w.health.kernel_state == "ready" and w.pid for w in pool.workers)
        assert len(healths) == 2 and healths[0].samplers and changes
    finally:
        await pool.stop()
    assert all(w.state is WorkerState.stopped and not w.alive for w in pool.workers)


async def test_a_killed_worker_is_respawned(tmp_path) -> None:
    pool = WorkerPool(pool_settings(tmp_path))
    pool.start()
    try:
        await until(lambda: pool.idle_workers())
        w = pool.workers[0]
        first_pid = w.pid
        os.kill(first_pid, signal.SIGKILL)
        await until(lambda: w.restarts == 1 and w.state is WorkerState.idle and w.pid != first_pid)
        assert w.last_exit == "exited with code -9"
    finally:
        await pool.stop()


async def test_new_model_folders_restart_each_worker_once_it_is_idle(tmp_path) -> None:
    pool = WorkerPool(pool_settings(tmp_path), model_roots=["/models/a"])
    pool.start()
    try:
        await until(lambda: pool.idle_workers())
        w = pool.workers[0]
        first_pid = w.pid
        assert w.cmd[-2:] == ["--model-root", "/models/a"]
        assert pool.set_model_roots(["/models/a"]) is False  # nothing new: nothing restarts
        assert pool.set_model_roots(["/models/a", "/models/b"]) is True
        await until(lambda: w.state is WorkerState.idle and w.pid not in (None, first_pid))
        assert w.cmd[-4:] == ["--model-root", "/models/a", "--model-root", "/models/b"]
        assert w.last_exit == "restarted to take the catalog's new model folders"
    finally:
        await pool.stop()


async def test_watchdog_kills_a_silent_worker(tmp_path) -> None:
    pool = WorkerPool(pool_settings(tmp_path, kernel="HangingKernel", watchdog_seconds=0.6))
    pool.start()
    try:
        await until(lambda: pool.idle_workers())
        w = pool.workers[0]
        task = GenerateTask(task_id="hang", base_model=ModelRef(name="m", path="/m"), width=64, height=64,
                            seeds=[1], steps=5)
        w.reserve("job", "hang")
        with pytest.raises(WorkerGone):
            await asyncio.wait_for(w.generate(task), 20)
        w.release()
        await until(lambda: w.restarts == 1 and w.state is WorkerState.idle)
        assert "watchdog" in w.last_exit and w.error is None
    finally:
        await pool.stop()


async def test_a_worker_that_cannot_start_is_reported_and_retried(tmp_path) -> None:
    s = pool_settings(tmp_path, worker_cmd=[str(tmp_path / "no-such-worker")])
    pool = WorkerPool(s)
    pool.start()
    try:
        w = pool.workers[0]
        await until(lambda: w.restarts >= 2)
        assert w.state in (WorkerState.failed, WorkerState.starting)
        assert "cannot run" in w.error
        assert pool.idle_workers() == []
    finally:
        await pool.stop()


async def test_a_failing_kernel_is_reported(tmp_path) -> None:
    pool = WorkerPool(pool_settings(tmp_path, worker_kernel="no_such_module:Kernel"))
    pool.start()
    try:
        w = pool.workers[0]
        await until(lambda: w.error is not None and "kernel failed to load" in w.error)
    finally:
        await pool.stop()


async def test_a_worker_that_never_answers_health_times_out(tmp_path) -> None:
    silent = [sys.executable, "-c", "import time; time.sleep(30)"]
    pool = WorkerPool(pool_settings(tmp_path, worker_cmd=silent, worker_start_timeout=0.3))
    pool.start()
    try:
        w = pool.workers[0]
        await until(lambda: w.error is not None)
        assert w.error == "not ready after 0.3 s"
        await until(lambda: w.restarts >= 1)
    finally:
        await pool.stop()
