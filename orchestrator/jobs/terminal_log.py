"""One terminal line for each step of a job's life, on the `remgo.jobs` logger at info level: submitted,
started on a worker, then finished with the time it took, failed with why, or cancelled."""

from __future__ import annotations

import logging

from orchestrator.jobs.store import Job, JobStatus
from orchestrator.pool.handle import WorkerHandle

log = logging.getLogger("remgo.jobs")
_MAX_REASON = 300  # a worker's traceback-sized message stays one readable line


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _span(start: float | None, end: float | None) -> str:
    return f"{max(0.0, end - start):.1f} s" if start is not None and end is not None else "?"


def submitted(job: Job, position: int | None) -> None:
    what = _plural(job.images_total, "image")
    if job.normalized.images:
        first = job.normalized.images[0]
        what += f" {first.width}x{first.height}, {_plural(first.steps, 'step')}, {first.base_model}"
    where = "queued" if position is None else f"{_plural(position, 'job')} ahead in the queue"
    if job.priority:
        where += f", priority {job.priority}"
    log.info("job %s submitted: %s (%s)", job.id, what, where)


def started(job: Job, worker: WorkerHandle) -> None:
    again = f", attempt {job.attempts}" if job.attempts > 1 else ""
    log.info("job %s started on worker %s (%s)%s", job.id, worker.name, worker.device, again)


def finished(job: Job) -> None:
    made = sum(1 for image in job.images if image.status == "done")
    skipped = len(job.images) - made
    took = _span(job.started_at, job.finished_at)
    if job.status is JobStatus.succeeded:
        extra = f", {skipped} skipped" if skipped else ""
        log.info("job %s finished in %s: %s%s (waited %s in the queue)", job.id, took,
                 _plural(made, "image"), extra, _span(job.created_at, job.started_at))
    elif job.status is JobStatus.failed:
        reason = f"{job.error.kind}: {job.error.message}" if job.error else "no reason recorded"
        reason = " ".join(reason.split())
        if len(reason) > _MAX_REASON:
            reason = reason[:_MAX_REASON - 1] + "…"
        log.info("job %s failed after %s (%d of %d images made): %s", job.id, took, made, job.images_total,
                 reason)
    elif job.started_at is None:
        log.info("job %s cancelled on request while queued", job.id)
    else:
        log.info("job %s cancelled on request after %s (%d of %d images made)", job.id, took, made,
                 job.images_total)
