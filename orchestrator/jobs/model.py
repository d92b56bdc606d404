"""What the job core says about a job: progress, snapshots and events. Neutral structs: the dispatcher and the
event hub emit them, the HTTP API and the other faces render them as JSON (SSE, WebSocket, webhooks, views)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from contract.request import GenerateRequest
from contract.task import GenerateTask
from orchestrator.common.image_params import ImageParams
from orchestrator.jobs.store import ImageRecord, Job, JobError, JobStatus


class JobProgress(msgspec.Struct, frozen=True, kw_only=True):
    """Progress over the whole job: `step`/`total` sum the sampling steps of every image."""

    step: int = 0
    total: int = 0
    images_done: int = 0
    images_total: int = 0
    image_index: int | None = None  # the image this step belongs to (job numbering)
    image_step: int | None = None
    image_steps_total: int | None = None
    stage: str | None = None
    worker: str | None = None
    preview: bytes | None = None  # JPEG, base64 in JSON


class ImageView(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    index: int
    seed: int
    status: str  # "done" | "skipped"
    url: str | None = None
    width: int = 0
    height: int = 0
    format: str | None = None
    history_id: int | str | None = None
    worker: str | None = None
    kernel_seconds: float = 0.0  # time the worker spent making it
    data: bytes | None = None  # the image file, base64, when asked for with `inline=true`


class NormalizedView(msgspec.Struct, frozen=True, kw_only=True):
    tasks: list[GenerateTask]
    request: GenerateRequest  # the effective v2 request after preset and defaults
    images: list[ImageParams]  # per-image parameters (prompt after styles, seed, models …)


class JobHead(msgspec.Struct, frozen=True, kw_only=True):
    """What every view of a job starts with: which job, its state, its place and its times."""

    id: str
    status: JobStatus
    priority: int
    position: int | None
    created_at: float
    started_at: float | None
    finished_at: float | None


class JobView(JobHead, frozen=True, kw_only=True):
    attempts: int
    workers: list[str]
    progress: JobProgress
    request: Any  # the body as sent
    request_format: str
    normalized: NormalizedView
    warnings: list[str]
    error: JobError | None
    images: list[ImageView]
    webhook_url: str | None = None


class ActionResult(msgspec.Struct, frozen=True, kw_only=True):
    """The answer to cancel / skip: the job's status now and whether this call changed anything."""

    id: str
    status: JobStatus
    changed: bool
    message: str


class JobEvent(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One event of one job, as sent over SSE (`event:` = type) and the WebSocket.

    Types: queued, started, progress, image_ready, retrying, finished, failed, cancelled.
    """

    type: str
    job_id: str
    id: int = 0  # hub-wide sequence number
    time: float = 0.0
    status: JobStatus | None = None
    position: int | None = None
    progress: JobProgress | None = None
    image: ImageView | None = None
    error: JobError | None = None
    message: str | None = None


TERMINAL_EVENTS = frozenset({"finished", "failed", "cancelled"})


def image_view(record: ImageRecord, data: bytes | None = None) -> ImageView:
    return ImageView(
        index=record.index, seed=record.seed, status=record.status, url=record.url, width=record.width,
        height=record.height, format=record.format, history_id=record.history_id, worker=record.worker,
        kernel_seconds=record.kernel_seconds, data=data,
    )


def job_view(job: Job, *, position: int | None, progress: JobProgress,
             read_image: Callable[[str], bytes | None] | None = None) -> JobView:
    """The full job as `GET /v1/jobs/{id}` shows it; `read_image` (relpath → bytes) inlines the files."""
    images = [
        image_view(r, read_image(r.relpath) if read_image is not None and r.relpath else None) for r in job.images
    ]
    n = job.normalized
    warnings = list(n.warnings)
    for record in job.images:
        warnings += [w for w in record.warnings if w not in warnings]
    return JobView(
        id=job.id, status=job.status, priority=job.priority, position=position, created_at=job.created_at,
        started_at=job.started_at, finished_at=job.finished_at, attempts=job.attempts, workers=job.workers,
        progress=progress, request=job.request, request_format=job.request_format,
        normalized=NormalizedView(tasks=n.tasks, request=n.request, images=n.images),
        warnings=warnings, error=job.error, images=images, webhook_url=job.webhook_url,
    )
