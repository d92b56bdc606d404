"""Dispatcher with real worker processes: splitting, seeds, priorities, cancel, skip, retries, resume."""

import asyncio
import io
import os
import signal
from pathlib import Path

import pytest
from PIL import Image

from bench.harness.worker_kernels import HOLD
from contract.rpc import BUSY
from orchestrator.jobs.dispatcher import QueueFull
from orchestrator.jobs.store import ImageRecord, JobStatus, JobStore
from orchestrator.pool.rpc_client import RpcCallError
from tests.orchestrator.jobs.dispatch_harness import rig, until
from tests.orchestrator.jobs.job_samples import make_job

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend():
    return "asyncio"


async def collect(r, job_id: str, timeout: float = 30.0) -> list:
    """Every event of `job_id` until its terminal event."""
    events = []
    with r.events.subscribe([job_id]) as sub:
        while True:
            item = await sub.get(timeout=timeout)
            assert item is not None, f"no terminal event; got {[e.type for e in events]}"
            events.append(item.event)
            if item.event.type in ("finished", "failed", "cancelled"):
                return events


async def test_a_job_runs_and_every_image_is_saved_with_its_seed(tmp_path) -> None:
    async with rig(tmp_path) as r:
        with r.events.subscribe([ "j" ]) as sub:
            r.dispatcher.submit(make_job("j", 3, seed=40, steps=4, split=1))
            events = []
            while not events or events[-1].type != "finished":
                events.append((await sub.get(timeout=30)).event)
        job = r.store.get("j")
        assert job.status is JobStatus.succeeded and job.attempts == 1 and job.workers == ["w0"]
        assert [(i.index, i.seed, i.status) for i in job.images] == [(0, 40, "done"), (1, 41, "done"), (2, 42, "done")]
        for image in job.images:
            assert r.outputs.resolve(image.relpath).is_file() and image.url.startswith("/outputs/")
            assert r.history.get(image.history_id) is not None
        types = [e.type for e in events]
        assert types[0] == "queued" and types[1] == "started" and types.count("image_ready") == 3
        steps = [e.progress.step for e in events if e.type == "progress"]
        assert steps == sorted(steps) and events[-1].progress.step == events[-1].progress.total == 12
        assert any(e.progress.preview for e in events if e.type == "progress")


async def test_two_workers_share_a_four_image_job(tmp_path) -> None:
    async with rig(tmp_path, devices=2, step_delay=0.03) as r:
        r.dispatcher.submit(make_job("pair", 4, seed=7, steps=4))
        events = await collect(r, "pair")
        job = r.store.get("pair")
        assert job.status is JobStatus.succeeded
        assert [i.seed for i in job.images] == [7, 8, 9, 10]
        assert {i.worker for i in job.images} == {"w0", "w1"} and sorted(job.workers) == ["w0", "w1"]
        progress = [e.progress for e in events if e.type == "progress"]
        assert {p.worker for p in progress} == {"w0", "w1"}
        assert all(p.total == 16 for p in progress)
        assert [p.step for p in progress] == sorted(p.step for p in progress)


async def test_higher_priority_runs_first(tmp_path) -> None:
    async with rig(tmp_path, step_delay=0.05) as r:
        started = []
        r.events.listen(lambda e: started.append(e.job_id) if e.type == "started" else None)
        r.dispatcher.submit(make_job("first", steps=4))
        await until(lambda: started == ["first"])
        r.dispatcher.submit(make_job("low", steps=1))
        r.dispatcher.submit(make_job("urgent", steps=1, priority=10))
        r.dispatcher.submit(make_job("low2", steps=1))
        await until(lambda: r.store.get("low2").status is JobStatus.succeeded, 30)
        assert started == ["first", "urgent", "low", "low2"]


async def test_queue_limit(tmp_path) -> None:
    async with rig(tmp_path, ready=False, queue_limit=2, worker_cmd=["/nonexistent"]) as r:
        r.dispatcher.submit(make_job("a"))
        r.dispatcher.submit(make_job("b"))
        with pytest.raises(QueueFull) as err:
            r.dispatcher.submit(make_job("c"))
        assert err.value.retry_after >= 1
        assert r.dispatcher.submit(make_job("a"))[1] is False  # an id seen before is not a new job


async def test_cancel_pending_and_running(tmp_path) -> None:
    async with rig(tmp_path, step_delay=0.05) as r:
        r.dispatcher.submit(make_job("run", 3, steps=40))
        r.dispatcher.submit(make_job("wait"))
        await until(lambda: r.store.get("run").status is JobStatus.running)
        res = await r.dispatcher.cancel("wait")
        assert res.changed and res.status is JobStatus.cancelled
        assert r.store.get("wait").status is JobStatus.cancelled
        await until(lambda: (r.dispatcher.runs["run"].latest or r.dispatcher.runs["run"].progress()).step >= 2)
        res = await r.dispatcher.cancel("run")
        assert res.changed and res.status is JobStatus.cancelled, res
        job = r.store.get("run")
        assert job.status is JobStatus.cancelled and job.images == []
        again = await r.dispatcher.cancel("run")
        assert not again.changed and "already cancelled" in again.message
        assert await r.dispatcher.cancel("ghost") is None


async def test_a_job_cancelled_while_its_worker_answers_busy_is_never_relaunched(tmp_path) -> None:
    """The worker answers BUSY (out of step with the dispatcher) after the job was cancelled: the image
    must not go back to the queue and be launched again."""
    async with rig(tmp_path) as r:
        worker = r.pool.workers[0]
        answer, calls = asyncio.Event(), []

        async def busy(task):  # the worker's answer, held until the cancel is under way
            calls.append(task.task_id)
            await answer.wait()
            raise RpcCallError(BUSY, "busy with another task")

        worker.generate = busy
        r.dispatcher.submit(make_job("victim"))
        await until(lambda: calls)
        cancel = asyncio.create_task(r.dispatcher.cancel("victim", wait=10))
        await until(lambda: r.dispatcher.runs["victim"].cancel_requested)
        answer.set()
        res = await cancel
        assert res.status is JobStatus.cancelled, res
        assert len(calls) == 1  # launched once, never again
        job = r.store.get("victim")
        assert job.status is JobStatus.cancelled and job.images == [] and "victim" not in r.dispatcher.runs


async def test_a_stop_is_asked_again_until_the_worker_acknowledges_it(tmp_path) -> None:
    """A worker that does not know the task yet (its generate still queued behind a slow pipe) answers a
    stop with "unknown task": the dispatcher asks again, for as long as the image runs, not ~2 s."""
    async with rig(tmp_path) as r:
        worker = r.pool.workers[0]
        real_stop, asked, known = worker.stop_task, [], asyncio.Event()

        async def late_stop(task_id, mode):
            asked.append(asyncio.get_running_loop().time())
            return await real_stop(task_id, mode) if known.is_set() else False

        worker.stop_task = late_stop
        r.dispatcher.submit(make_job("held", steps=20, prompt=f"runs until stopped {HOLD}"))
        runs = r.dispatcher.runs
        await until(lambda: "held" in runs and (runs["held"].latest or runs["held"].progress()).step >= 1)
        cancel = asyncio.create_task(r.dispatcher.cancel("held", wait=60))
        await until(lambda: asked and asked[-1] - asked[0] > 3.0, timeout=30)  # past the old 2 s limit
        known.set()
        res = await cancel
        assert res.status is JobStatus.cancelled, res
        assert r.store.get("held").images == []


async def test_skip_drops_the_current_image_and_goes_on(tmp_path) -> None:
    async with rig(tmp_path, step_delay=0.03) as r:
        r.dispatcher.submit(make_job("s", 2, steps=30, seed=5))
        await until(lambda: "s" in r.dispatcher.runs and (r.dispatcher.runs["s"].latest or
                                                            r.dispatcher.runs["s"].progress()).step >= 2)
        res = await r.dispatcher.skip("s")
        assert res.changed and "image 0" in res.message
        await until(lambda: r.store.get("s").status is JobStatus.succeeded, 30)
        job = r.store.get("s")
        assert [(i.index, i.status) for i in job.images] == [(0, "skipped"), (1, "done")]
        assert job.images[1].seed == 6
        assert not (await r.dispatcher.skip("s")).changed


async def test_a_dead_worker_is_retried_once_elsewhere(tmp_path) -> None:
    async with rig(tmp_path, devices=2, step_delay=0.05) as r:
        r.dispatcher.submit(make_job("k", 1, steps=30))
        await until(lambda: any(w.current_job == "k" for w in r.pool.workers))
        victim = next(w for w in r.pool.workers if w.current_job == "k")
        await until(lambda: r.dispatcher.runs["k"].progress().step >= 1)
        os.kill(victim.pid, signal.SIGKILL)
        events = await collect(r, "k")
        job = r.store.get("k")
        assert job.status is JobStatus.succeeded
        assert job.images[0].worker != victim.name
        assert "retrying" in [e.type for e in events] and r.dispatcher.stats.retries == 1


async def test_a_second_death_fails_the_job_and_keeps_finished_images(tmp_path) -> None:
    async with rig(tmp_path, step_delay=0.05) as r:
        r.dispatcher.submit(make_job("d", 2, steps=6))
        await until(lambda: len(r.store.get("d").images) == 1, 30)
        for _ in range(2):
            await until(lambda: r.pool.workers[0].current_job == "d" and r.dispatcher.runs["d"].progress().step > 6)
            os.kill(r.pool.workers[0].pid, signal.SIGKILL)
            await until(lambda: r.pool.workers[0].current_job is None)
        await until(lambda: r.store.get("d").status is JobStatus.failed)
        job = r.store.get("d")
        assert job.error.kind == "worker_died" and "retried 1 time" in job.error.message
        assert [i.index for i in job.images] == [0]
        assert r.dispatcher.stats.jobs_finished["failed"] == 1


async def test_a_kernel_failure_fails_the_job_naming_it(tmp_path) -> None:
    async with rig(tmp_path, kernel="RaisingKernel") as r:
        r.dispatcher.submit(make_job("x", 2))
        events = await collect(r, "x")
        job = r.store.get("x")
        assert job.status is JobStatus.failed and job.error.kind == "internal"
        assert "kernel exploded" in job.error.message
        assert events[-1].error.kind == "internal"


async def test_resume_runs_only_what_is_missing(tmp_path) -> None:
    db = Path(tmp_path) / "state" / "jobs.db"
    store = JobStore(db)
    store.add(make_job("old", 3, seed=1))
    store.mark_running("old")
    store.add_image("old", ImageRecord(index=1, seed=2, status="skipped"))
    store.add(make_job("queued"))
    store.close()
    async with rig(tmp_path) as r:
        await until(lambda: r.store.get("queued").status is JobStatus.succeeded, 30)
        await until(lambda: r.store.get("old").status is JobStatus.succeeded, 30)
        job = r.store.get("old")
        assert job.attempts == 2
        assert [(i.index, i.seed, i.status) for i in job.images] == [(0, 1, "done"), (1, 2, "skipped"), (2, 3, "done")]


async def test_previews_follow_the_settings(tmp_path) -> None:
    async with rig(tmp_path, preview_enabled=False) as r:
        r.dispatcher.submit(make_job("np", steps=3))
        events = await collect(r, "np")
        assert [e for e in events if e.type == "progress"]
        assert not any(e.progress.preview for e in events if e.type == "progress")
    async with rig(tmp_path, preview_every_n_steps=2, preview_max_side=16) as r:
        r.dispatcher.submit(make_job("every2", steps=5))
        events = await collect(r, "every2")
        with_preview = [e.progress.image_step for e in events if e.type == "progress" and e.progress.preview]
        assert with_preview == [2, 4, 5]  # every 2nd step, and the last
        preview = next(e.progress.preview for e in events if e.type == "progress" and e.progress.preview)
        assert max(Image.open(io.BytesIO(preview)).size) <= 16


async def test_affinity_prefers_the_worker_with_the_model(tmp_path) -> None:
    async with rig(tmp_path, devices=2) as r:
        w0, w1 = r.pool.workers
        w1.last_model = "other.safetensors"
        r.dispatcher.submit(make_job("a1", model="other.safetensors"))
        await until(lambda: r.store.get("a1").status is JobStatus.succeeded)
        assert r.store.get("a1").images[0].worker == "w1"
        w0.last_model = "third.safetensors"
        w1.last_model = None
        r.dispatcher.submit(make_job("a2", model="third.safetensors"))
        await until(lambda: r.store.get("a2").status is JobStatus.succeeded)
        assert r.store.get("a2").images[0].worker == "w0"
        await asyncio.sleep(0)
