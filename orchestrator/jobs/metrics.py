"""Counters the dispatcher keeps, and their Prometheus text exposition for `GET /metrics`."""

from __future__ import annotations

import collections
import time
from dataclasses import dataclass, field

from orchestrator.jobs.store import JobStatus
from orchestrator.pool.handle import WorkerHandle, WorkerState

_RATE_WINDOW = 30.0  # seconds the step rate is averaged over


@dataclass
class DispatchStats:
    jobs_submitted: int = 0
    jobs_finished: collections.Counter[str] = field(default_factory=collections.Counter)
    images_done: int = 0
    images_skipped: int = 0
    retries: int = 0
    steps_done: int = 0
    # Mean seconds a job runs (exponential average), for Retry-After estimates.
    job_seconds: float = 10.0
    _steps: collections.deque[tuple[float, int]] = field(default_factory=collections.deque)

    def add_steps(self, n: int, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self.steps_done += n
        self._steps.append((now, n))
        while self._steps and now - self._steps[0][0] > _RATE_WINDOW:
            self._steps.popleft()

    def step_rate(self, now: float | None = None) -> float:
        """Sampling steps per second over the last 30 s, all workers together."""
        now = time.monotonic() if now is None else now
        recent = sum(n for t, n in self._steps if now - t <= _RATE_WINDOW)
        return recent / _RATE_WINDOW

    def job_finished(self, status: JobStatus, seconds: float | None) -> None:
        self.jobs_finished[status.value] += 1
        if seconds is not None and status is JobStatus.succeeded:
            self.job_seconds = 0.8 * self.job_seconds + 0.2 * seconds

    def retry_after(self, queued: int, limit: int, workers: int) -> int:
        """Seconds until the queue is likely below its limit again (at least 1, at most an hour)."""
        over = max(1, queued - limit + 1)
        return int(min(3600, max(1, round(self.job_seconds * over / max(1, workers)))))


def _line(name: str, value: float, labels: dict[str, str] | None = None) -> str:
    if labels:
        inner = ",".join(f'{k}="{v}"' for k, v in labels.items())
        return f"{name}{{{inner}}} {value:g}"
    return f"{name} {value:g}"


def render(stats: DispatchStats, counts: dict[JobStatus, int], workers: list[WorkerHandle],
           subscribers: int, events_lost: int = 0) -> str:
    out: list[str] = []

    def metric(name: str, kind: str, help_: str, samples: list[tuple[float, dict[str, str] | None]]) -> None:
        out.append(f"# HELP {name} {help_}")
        out.append(f"# TYPE {name} {kind}")
        out.extend(_line(name, v, labels) for v, labels in samples)

    metric("remgo_queue_depth", "gauge", "Jobs waiting for a worker.", [(counts[JobStatus.queued], None)])
    metric("remgo_jobs", "gauge", "Jobs in the store by status.",
           [(n, {"status": s.value}) for s, n in counts.items()])
    metric("remgo_jobs_submitted_total", "counter", "Jobs accepted since start.", [(stats.jobs_submitted, None)])
    metric("remgo_jobs_finished_total", "counter", "Jobs that reached a terminal state since start.",
           [(stats.jobs_finished[s.value], {"status": s.value})
            for s in (JobStatus.succeeded, JobStatus.failed, JobStatus.cancelled)])
    metric("remgo_images_total", "counter", "Images saved since start.", [(stats.images_done, None)])
    metric("remgo_steps_total", "counter", "Sampling steps reported by workers since start.",
           [(stats.steps_done, None)])
    metric("remgo_step_rate", "gauge", "Sampling steps per second over the last 30 s.",
           [(round(stats.step_rate(), 3), None)])
    metric("remgo_task_retries_total", "counter", "Images retried after their worker died.",
           [(stats.retries, None)])
    metric("remgo_workers", "gauge", "Workers by state.",
           [(sum(1 for w in workers if w.state is s), {"state": s.value}) for s in WorkerState])
    metric("remgo_worker_restarts_total", "counter", "Times each worker process was respawned.",
           [(w.restarts, {"worker": w.name, "device": w.device}) for w in workers])
    metric("remgo_event_subscribers", "gauge", "Open SSE / WebSocket subscriptions.", [(subscribers, None)])
    metric("remgo_events_lost_total", "counter", "Events other than progress dropped from full subscriber "
           "queues (each stream told its client).", [(events_lost, None)])
    return "\n".join(out) + "\n"
