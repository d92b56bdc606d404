"""What this face answers with, in Fooocus-API's shapes (its OpenAPI document's GeneratedImageResult,
AsyncJobResponse, JobQueueInfo, JobHistoryResponse, AllModelNamesResponse, StopResponse), built from remgo's
job store records. Every field is always present (None is sent as null), as Fooocus-API's pydantic models do.
"""

from __future__ import annotations

import base64
import enum
from collections.abc import Callable
from urllib.parse import quote

import msgspec

from orchestrator.compat.fooocus_api.mapping import REQUEST_FORMAT, JobType, job_type
from orchestrator.jobs.model import JobProgress
from orchestrator.jobs.store import Job, JobStatus

MEDIA = {"png": "png", "jpeg": "jpeg", "webp": "webp"}


class FinishReason(str, enum.Enum):
    success = "SUCCESS"
    queue_is_full = "QUEUE_IS_FULL"
    user_cancel = "USER_CANCEL"
    error = "ERROR"


class Stage(str, enum.Enum):
    waiting = "WAITING"
    running = "RUNNING"
    success = "SUCCESS"
    error = "ERROR"


class ImageResult(msgspec.Struct, frozen=True):
    """GeneratedImageResult: `seed` is text (seeds pass 2**53, beyond what JavaScript reads exactly)."""

    base64: str | None
    url: str | None
    seed: str
    finish_reason: FinishReason


class AsyncJob(msgspec.Struct, frozen=True):
    """AsyncJobResponse."""

    job_id: str
    job_type: JobType
    job_stage: Stage
    job_progress: int
    job_status: str | None = None
    job_step_preview: str | None = None
    job_result: list[ImageResult] | None = None


class QueueInfo(msgspec.Struct, frozen=True):
    running_size: int
    finished_size: int
    last_job_id: str | None


class HistoryInfo(msgspec.Struct, frozen=True):
    job_id: str
    is_finished: bool
    in_queue_mills: int
    start_mills: int
    finish_mills: int


class HistoryResponse(msgspec.Struct, frozen=True):
    queue: list[HistoryInfo]
    history: list[HistoryInfo]


class ModelNames(msgspec.Struct, frozen=True):
    model_filenames: list[str]
    lora_filenames: list[str]


class StopAnswer(msgspec.Struct, frozen=True):
    msg: str


def file_url(base_url: str, relpath: str) -> str:
    """Fooocus-API's `{base}/files/{date}/{name}`; outputs/ keeps images in dated folders likewise."""
    return f"{base_url.rstrip('/')}/files/{quote(relpath, safe='/')}"


def wants_base64(job: Job) -> bool:
    """`require_base64` of a job sent to this face (its kept body is Fooocus-API's JSON)."""
    if job.request_format != REQUEST_FORMAT:
        return False
    try:
        body = msgspec.json.decode(job.request)
    except msgspec.DecodeError:
        return False
    return isinstance(body, dict) and body.get("require_base64") is True


def image_results(job: Job, base_url: str, read: Callable[[str], bytes | None] | None = None) -> list[ImageResult]:
    """One entry per image of the job, in order; `read` (relpath → bytes) fills `base64` as a data URI."""
    done = {record.index: record for record in job.images}
    missing = FinishReason.error if job.status is JobStatus.failed else FinishReason.user_cancel
    results = []
    for index, params in enumerate(job.normalized.images):
        record = done.get(index)
        if record is None or record.status != "done" or not record.relpath:
            reason = FinishReason.user_cancel if record is not None else missing
            results.append(ImageResult(base64=None, url=None, seed=str(params.seed), finish_reason=reason))
            continue
        data = read(record.relpath) if read is not None else None
        encoded = None
        if data is not None:
            media = MEDIA.get(record.format or "png", "png")
            encoded = f"data:image/{media};base64,{base64.b64encode(data).decode()}"
        results.append(ImageResult(base64=encoded, url=file_url(base_url, record.relpath), seed=str(record.seed),
                                   finish_reason=FinishReason.success))
    return results


def percentage(progress: JobProgress) -> int:
    return 0 if progress.total <= 0 else max(0, min(100, progress.step * 100 // progress.total))


def status_text(job: Job, progress: JobProgress, position: int | None) -> str | None:
    if job.status is JobStatus.queued:
        return "Waiting in queue" if position is None else f"Waiting in queue (position {position + 1})"
    if job.status is JobStatus.running:
        if progress.stage in ("sampling", "refining") and progress.image_index is not None:
            return (f"Step {progress.image_step}/{progress.image_steps_total} in the "
                    f"{progress.image_index + 1}-th Sampling")
        return (progress.stage or "starting").replace("_", " ").capitalize()
    if job.status is JobStatus.succeeded:
        return "Finished"
    if job.status is JobStatus.failed:
        return job.error.message if job.error is not None else "Failed"
    return f"Stopped ({progress.images_done}/{progress.images_total} images)"


def stage_of(job: Job) -> Stage:
    """Fooocus keeps the images made before a stop: a stopped job with images is a success, as there."""
    if job.status is JobStatus.queued:
        return Stage.waiting
    if job.status is JobStatus.running:
        return Stage.running
    if job.status is JobStatus.succeeded:
        return Stage.success
    made = any(record.status == "done" for record in job.images)
    return Stage.success if job.status is JobStatus.cancelled and made else Stage.error


def async_job(job: Job, progress: JobProgress, position: int | None, base_url: str, *, preview: bool,
              read: Callable[[str], bytes | None] | None = None) -> AsyncJob:
    """`query-job` (and the answer of an `async_process` submission): the job as it is now."""
    stage = stage_of(job)
    shown = None
    if preview and job.status is JobStatus.running and progress.preview:
        shown = base64.b64encode(progress.preview).decode()
    result = image_results(job, base_url, read) if stage is Stage.success else None
    return AsyncJob(job_id=job.id, job_type=job_type(job.normalized.request), job_stage=stage,
                    job_progress=100 if stage is Stage.success else percentage(progress),
                    job_status=status_text(job, progress, position), job_step_preview=shown, job_result=result)


def not_found() -> AsyncJob:
    """Fooocus-API's answer (with a 404) for an unknown job id."""
    return AsyncJob(job_id="", job_type=JobType.not_found, job_stage=Stage.error, job_progress=0,
                    job_status="Job not found")


def queue_full(kind: JobType) -> tuple[AsyncJob, list[ImageResult]]:
    """What Fooocus-API answers when its queue is full, for async and sync submissions."""
    entry = ImageResult(base64=None, url=None, seed="", finish_reason=FinishReason.queue_is_full)
    return AsyncJob(job_id="", job_type=kind, job_stage=Stage.error, job_progress=0, job_result=[entry]), [entry]


def history_info(job: Job) -> HistoryInfo:
    def mills(t: float | None) -> int:
        return int(round(t * 1000)) if t else 0

    return HistoryInfo(job_id=job.id, is_finished=job.status not in (JobStatus.queued, JobStatus.running),
                       in_queue_mills=mills(job.created_at), start_mills=mills(job.started_at),
                       finish_mills=mills(job.finished_at))


def webhook_payload(job: Job, base_url: str) -> bytes:
    """Fooocus-API's webhook body: `{"job_id", "job_result": [{"url", "seed"}]}` for the images made."""
    made = [{"url": r.url, "seed": r.seed} for r in image_results(job, base_url) if r.finish_reason is FinishReason.success]
    return msgspec.json.encode({"job_id": job.id, "job_result": made})
