"""Saving an image and adding its history row happen on the dispatcher's writer thread, not the event loop."""

import threading

import pytest

from orchestrator.jobs.store import JobStatus
from tests.orchestrator.jobs.dispatch_harness import rig, until
from tests.orchestrator.jobs.job_samples import make_job

pytestmark = pytest.mark.anyio
WAIT = 30  # seconds: a bound on waiting for a condition, never a measurement


@pytest.fixture
def anyio_backend():
    return "asyncio"


async def test_a_held_save_leaves_the_loop_free_and_writes_stay_on_one_thread(tmp_path) -> None:
    async with rig(tmp_path) as r:
        loop_thread = threading.get_ident()
        writers: list[tuple[str, int]] = []
        entered, go = threading.Event(), threading.Event()
        save, add = r.outputs.save, r.history.add

        def held_save(*args, **kwargs):
            writers.append(("save", threading.get_ident()))
            entered.set()
            assert go.wait(WAIT), "the test never released the save"
            return save(*args, **kwargs)

        def recorded_add(**kwargs):
            writers.append(("add", threading.get_ident()))
            return add(**kwargs)

        r.outputs.save, r.history.add = held_save, recorded_add
        try:
            r.dispatcher.submit(make_job("held", 2, steps=1))
            await until(entered.is_set, WAIT)
            # The first image's save is stuck on disk; the loop still takes requests and publishes events.
            queued = []
            r.events.listen(lambda e: queued.append(e.job_id) if e.type == "queued" else None)
            r.dispatcher.submit(make_job("next", 1, steps=1))
            await until(lambda: queued == ["next"], WAIT)
            assert r.store.get("held").images == [] and r.store.get("held").status is JobStatus.running
            go.set()
            await until(lambda: r.store.get("next").status is JobStatus.succeeded, WAIT)
        finally:
            go.set()
            r.outputs.save, r.history.add = save, add
        held = r.store.get("held")
        assert held.status is JobStatus.succeeded and [i.index for i in held.images] == [0, 1]
        assert all(r.history.get(i.history_id) is not None for i in held.images)
        # Each file before its row, all on one thread that is not the loop's.
        assert [kind for kind, _ in writers] == ["save", "add"] * 3
        assert len({thread for _, thread in writers}) == 1 and writers[0][1] != loop_thread
