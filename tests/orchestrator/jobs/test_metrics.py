"""Dispatch counters and their Prometheus rendering."""

from orchestrator.jobs.metrics import DispatchStats, render
from orchestrator.jobs.store import JobStatus


def test_step_rate_uses_a_sliding_window() -> None:
    stats = DispatchStats()
    stats.add_steps(30, now=100.0)
    stats.add_steps(30, now=110.0)
    assert stats.step_rate(now=115.0) == 2.0
    assert stats.step_rate(now=135.0) == 1.0
    assert stats.steps_done == 60


def test_retry_after_grows_with_the_queue_and_shrinks_with_workers() -> None:
    stats = DispatchStats(job_seconds=4.0)
    assert stats.retry_after(queued=10, limit=10, workers=1) == 4
    assert stats.retry_after(queued=13, limit=10, workers=2) == 8
    assert DispatchStats(job_seconds=0.01).retry_after(10, 10, 1) == 1
    stats.job_finished(JobStatus.succeeded, 9.0)
    assert stats.job_seconds == 0.8 * 4.0 + 0.2 * 9.0 and stats.jobs_finished["succeeded"] == 1


def test_render_is_prometheus_text() -> None:
    stats = DispatchStats(jobs_submitted=3, images_done=2)
    text = render(stats, {s: 1 for s in JobStatus}, [], subscribers=2)
    assert "# TYPE remgo_queue_depth gauge\nremgo_queue_depth 1\n" in text
    assert 'remgo_jobs{status="running"} 1' in text and "remgo_images_total 2" in text
    assert "remgo_event_subscribers 2" in text and text.endswith("\n")
