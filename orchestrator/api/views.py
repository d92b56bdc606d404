"""The JSON shapes the HTTP API answers with (and the OpenAPI document describes)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from contract.request import GenerateRequest
from contract.task import GenerateTask
from orchestrator.jobs.store import ImageRecord, Job, JobError, JobStatus
from orchestrator.pool.handle import WorkerState
from orchestrator.pool.transport import WorkerPlacement
from orchestrator.store.metadata.fooocus import ImageParams


class ErrorDetail(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    message: str
    field: str | None = None
    suggestions: list[str] = []


class ErrorBody(msgspec.Struct, frozen=True, kw_only=True):
    """Every 4xx/5xx answer: `field` is a JSON path into the body (`$.image_number`) or a parameter name."""

    error: ErrorDetail


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


class JobSummary(JobHead, frozen=True, kw_only=True):
    images_done: int
    images_total: int
    error: JobError | None


class JobList(msgspec.Struct, frozen=True, kw_only=True):
    jobs: list[JobSummary]
    next_cursor: str | None


class JobAccepted(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    status: JobStatus
    position: int | None
    created: bool = True  # False: a job with this id already existed and is the one returned


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


class WorkerView(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    device: str
    state: WorkerState
    pid: int | None
    kernel: str | None
    loaded_models: list[str]
    current_job: str | None
    current_task: str | None
    restarts: int
    tasks_done: int
    error: str | None
    last_exit: str | None
    # Where a worker of a remote backend runs (Ray: node, GPU ids, CUDA_VISIBLE_DEVICES); `pid` is on that node.
    placement: WorkerPlacement | None = None


class WorkerList(msgspec.Struct, frozen=True):
    workers: list[WorkerView]


class HealthView(msgspec.Struct, frozen=True, kw_only=True):
    status: str  # "ok" when a worker can take work, else "starting"
    ready: bool
    workers_ready: int
    workers_total: int
    queue_depth: int


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


def job_summary(job: Job, position: int | None) -> JobSummary:
    return JobSummary(
        id=job.id, status=job.status, priority=job.priority, position=position, created_at=job.created_at,
        started_at=job.started_at, finished_at=job.finished_at,
        images_done=sum(1 for i in job.images if i.status == "done"), images_total=job.images_total,
        error=job.error,
    )
