"""The JSON shapes the HTTP API answers with besides the job model it renders (orchestrator/jobs/model.py):
errors, job lists, workers, health. The OpenAPI document describes both."""

from __future__ import annotations

from typing import Literal

import msgspec

from orchestrator.jobs.model import JobHead
from orchestrator.jobs.store import Job, JobError, JobStatus
from orchestrator.pool.handle import WorkerState
from orchestrator.pool.transport import WorkerPlacement


class ErrorDetail(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    message: str
    field: str | None = None
    suggestions: list[str] = []


class ErrorBody(msgspec.Struct, frozen=True, kw_only=True):
    """Every 4xx/5xx answer: `field` is a JSON path into the body (`$.image_number`) or a parameter name."""

    error: ErrorDetail


class WsCommand(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    op: Literal["subscribe", "unsubscribe"]
    job_id: str  # a job id, or "*" for every job


class WsError(msgspec.Struct, frozen=True):
    error: ErrorDetail
    type: str = "error"


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


class UploadView(msgspec.Struct, frozen=True, kw_only=True):
    """An input image kept by POST /v1/uploads; `upload_id` (its sha256) names it in a request's image fields."""

    upload_id: str
    width: int
    height: int
    format: str  # "png", "jpeg" or "webp"
    bytes: int


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


def job_summary(job: Job, position: int | None) -> JobSummary:
    return JobSummary(
        id=job.id, status=job.status, priority=job.priority, position=position, created_at=job.created_at,
        started_at=job.started_at, finished_at=job.finished_at,
        images_done=sum(1 for i in job.images if i.status == "done"), images_total=job.images_total,
        error=job.error,
    )
