"""EventHub: per-job fan-out, all-jobs subscribers, bounded queues that keep the newest events."""

import pytest

from orchestrator.jobs.events import EventHub
from orchestrator.jobs.model import JobEvent, JobProgress

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend():
    return "asyncio"


def ev(job_id: str, kind: str = "progress", step: int = 0) -> JobEvent:
    return JobEvent(type=kind, job_id=job_id, progress=JobProgress(step=step, total=10))


async def test_each_job_reaches_its_subscribers_only() -> None:
    hub = EventHub()
    with hub.subscribe(["a"]) as sa, hub.subscribe(["b"]) as sb, hub.subscribe(all_jobs=True) as everything:
        hub.publish(ev("a", step=1))
        hub.publish(ev("b", step=2))
        got_a = await sa.get(timeout=1)
        assert got_a.event.job_id == "a" and b'"step":1' in got_a.json
        assert (await sa.get(timeout=0.05)) is None
        assert (await sb.get(timeout=1)).event.job_id == "b"
        assert [(await everything.get(timeout=1)).event.job_id for _ in range(2)] == ["a", "b"]
    assert hub.subscriber_count == 0


async def test_events_are_numbered_and_stamped() -> None:
    hub = EventHub()
    first, second = hub.publish(ev("a")), hub.publish(ev("a"))
    assert second.id == first.id + 1 and first.time > 0


async def test_a_slow_subscriber_loses_the_oldest_not_the_newest() -> None:
    hub = EventHub(queue_size=8)
    with hub.subscribe(["a"]) as sub:
        for step in range(20):
            hub.publish(ev("a", step=step))
        hub.publish(ev("a", kind="finished"))
        assert sub.dropped == 13
        items = [await sub.get(timeout=1) for _ in range(8)]
        assert items[-1].event.type == "finished"
        assert [i.event.progress.step for i in items[:-1]] == list(range(13, 20))


async def test_subscriptions_change_while_open() -> None:
    hub = EventHub()
    sub = hub.subscribe()
    sub.add("x")
    hub.publish(ev("x"))
    assert (await sub.get(timeout=1)).event.job_id == "x"
    sub.remove("x")
    hub.publish(ev("x"))
    assert (await sub.get(timeout=0.05)) is None
    sub.close()
    assert hub.subscriber_count == 0


async def test_listeners_see_every_event() -> None:
    hub = EventHub()
    seen = []
    hub.listen(lambda e: seen.append(e.type))
    hub.publish(ev("a", kind="queued"))
    hub.publish(ev("b", kind="started"))
    assert seen == ["queued", "started"]


async def test_a_full_queue_gives_up_progress_snapshots_before_anything_else() -> None:
    hub = EventHub(queue_size=8)
    with hub.subscribe(all_jobs=True) as sub:
        for n in range(6):
            hub.publish(ev(f"j{n}", kind="queued"))
            hub.publish(ev(f"j{n}", step=n))
        kinds = []
        while (item := await sub.get(timeout=0.01)) is not None:
            kinds.append((item.event.type, item.event.job_id))
    # Every `queued` event is kept; the oldest progress snapshots made room.
    assert [j for k, j in kinds if k == "queued"] == [f"j{n}" for n in range(6)]
    assert [j for k, j in kinds if k == "progress"] == ["j4", "j5"]
    assert (sub.dropped, sub.lost, hub.lost) == (4, 0, 0)


async def test_events_lost_from_a_full_queue_are_counted_and_told() -> None:
    from orchestrator.api.routes.events import _stream

    hub = EventHub(queue_size=8)
    sub = hub.subscribe(["a"])
    for n in range(10):
        hub.publish(ev("a", kind="image_ready", step=n))
    hub.publish(ev("a", kind="finished"))
    assert (sub.lost, hub.lost) == (3, 3)
    frames = [frame async for frame in _stream(sub, None, until_terminal=True)]
    # The notice is numbered and timed like every other event: after the 11 published ones.
    assert frames[0].startswith(b"id: 12\nevent: dropped\n") and b"3 event(s) were dropped" in frames[0]
    assert b'"id":12,"time":' in frames[0]
    assert len(frames) == 1 + 8 and b"event: finished" in frames[-1]
    assert hub.subscriber_count == 0
