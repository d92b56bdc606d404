"""JobStore: idempotent add, queue order, positions, transitions, resume, listing."""

import pytest

from orchestrator.jobs.store import ImageRecord, JobError, JobStatus, JobStore
from tests.orchestrator.jobs.job_samples import make_job


@pytest.fixture
def store(tmp_path):
    s = JobStore(tmp_path / "state" / "jobs.db")
    yield s
    s.close()


def test_add_is_idempotent_and_keeps_the_request(store) -> None:
    job, created = store.add(make_job("a", 2))
    assert created and job.status is JobStatus.queued and job.seq > 0
    assert bytes(job.request) == b'{"prompt":"a red fox","image_number":2}'
    assert job.normalized.tasks[0].seeds == [100, 101]
    again, created = store.add(make_job("a", 5))
    assert not created and again.images_total == 2
    assert store.get("nope") is None


def test_priority_then_fifo_and_positions(store) -> None:
    for job_id, prio in [("low1", 0), ("low2", 0), ("high", 5), ("mid", 1)]:
        store.add(make_job(job_id, priority=prio))
    positions = {j: store.position(store.get(j)) for j in ("low1", "low2", "high", "mid")}
    assert positions == {"high": 0, "mid": 1, "low1": 2, "low2": 3}
    order = []
    while (head := store.next_queued()) is not None:
        order.append(head.id)
        store.mark_running(head.id)
    assert order == ["high", "mid", "low1", "low2"]
    assert store.position(store.get("high")) is None


def test_transitions_and_terminal_states_stick(store) -> None:
    store.add(make_job("j"))
    running = store.mark_running("j")
    assert running.status is JobStatus.running and running.attempts == 1 and running.started_at
    done = store.finish("j", JobStatus.failed, JobError(kind="internal", message="boom"))
    assert done.status is JobStatus.failed and done.error.message == "boom" and done.finished_at
    again = store.finish("j", JobStatus.succeeded)
    assert again.status is JobStatus.failed  # a terminal job is never rewritten
    assert store.mark_running("j").status is JobStatus.failed


def test_images_and_workers_are_recorded(store) -> None:
    store.add(make_job("j", 3))
    store.mark_running("j")
    store.add_image("j", ImageRecord(index=2, seed=102, status="done", relpath="x.png", url="/outputs/x.png"))
    store.add_image("j", ImageRecord(index=0, seed=100, status="skipped"))
    store.add_worker("j", "w1")
    store.add_worker("j", "w1")
    job = store.get("j")
    assert [i.index for i in job.images] == [0, 2] and job.finished_indices() == {0, 2}
    assert job.workers == ["w1"]


def test_resume_requeues_running_with_attempt_plus_one(store) -> None:
    store.add(make_job("r"))
    store.add(make_job("q"))
    store.mark_running("r")
    assert store.resume() == ["r"]
    job = store.get("r")
    assert job.status is JobStatus.queued and job.attempts == 2
    assert store.mark_running("r").attempts == 2
    assert store.get("q").attempts == 0


def test_a_job_running_through_three_restarts_fails_saying_so(store) -> None:
    store.add(make_job("crashy"))
    store.mark_running("crashy")
    for restart in (1, 2):
        assert store.resume() == ["crashy"], restart
        store.mark_running("crashy")
    assert store.resume() == []
    job = store.get("crashy")
    assert job.status is JobStatus.failed and job.error.message.startswith("failed on 3 restarts")


def test_reopening_the_database_keeps_jobs(tmp_path) -> None:
    path = tmp_path / "jobs.db"
    first = JobStore(path)
    first.add(make_job("persist", 2))
    first.close()
    second = JobStore(path)
    assert second.get("persist").images_total == 2
    second.close()


def test_list_filters_and_pages(store) -> None:
    for i in range(5):
        store.add(make_job(f"j{i}"))
    store.mark_running("j1")
    page, cursor = store.list(limit=2)
    assert [j.id for j in page] == ["j4", "j3"] and cursor is not None
    page, cursor = store.list(limit=2, cursor=cursor)
    assert [j.id for j in page] == ["j2", "j1"]
    page, cursor = store.list(limit=2, cursor=cursor)
    assert [j.id for j in page] == ["j0"] and cursor is None
    running, _ = store.list(status=JobStatus.running)
    assert [j.id for j in running] == ["j1"]
    assert store.counts()[JobStatus.queued] == 4 and store.queue_depth() == 4


def test_locate_maps_job_images_to_tasks() -> None:
    job = make_job("s", 5, split=2)
    n = job.normalized
    assert [(n.locate(i)[0].task_id, n.locate(i)[1]) for i in range(5)] == [
        ("s-0", 0), ("s-0", 1), ("s-1", 0), ("s-1", 1), ("s-1", 2)]
    with pytest.raises(IndexError):
        n.locate(5)
