"""A job's progress in RemGo's shape: the `/ws` message and the `GET /status/{task_id}` answer.

Built from the event hub's JobEvents and the job store, so both APIs' jobs show on RemGo's socket.
RemGo's frontend treats every `/ws` message as a task update, so the message always carries every field:
`percentage` over the whole job (0–100), `results` as paths under the outputs root, `preview` a bare
base64 JPEG or null. A job's last message has `finished: true`, `preview: null` and all its results.
"""

from __future__ import annotations

import base64

import msgspec

from orchestrator.jobs.model import TERMINAL_EVENTS, JobEvent, JobProgress
from orchestrator.jobs.store import TERMINAL, Job, JobError, JobStatus


class TaskStatus(msgspec.Struct, frozen=True):
    """`GET /status/{task_id}`."""

    percentage: int
    statusText: str  # noqa: N815 - RemGo's name
    results: list[str]
    finished: bool
    preview: str | None


class ProgressMessage(msgspec.Struct, frozen=True):
    """One `/ws` message; every field is always present (None is sent as null)."""

    type: str
    task_id: str
    percentage: int
    statusText: str  # noqa: N815 - RemGo's name
    finished: bool
    results: list[str]
    preview: str | None


_STAGE_TEXT = {"loading": "Loading models", "encoding_prompt": "Encoding the prompt", "decoding": "Decoding",
               "saving": "Saving"}


def percentage(progress: JobProgress | None) -> int:
    if progress is None or progress.total <= 0:
        return 0
    return max(0, min(100, progress.step * 100 // progress.total))


def preview_of(progress: JobProgress | None) -> str | None:
    return base64.b64encode(progress.preview).decode() if progress is not None and progress.preview else None


def results_of(job: Job | None) -> list[str]:
    """The job's saved images, in job order, as paths relative to the outputs root."""
    if job is None:
        return []
    return [img.relpath for img in job.images if img.status == "done" and img.relpath]


def stage_text(progress: JobProgress | None) -> str:
    if progress is None or progress.stage is None:
        return "Running"
    image = ""
    if progress.image_index is not None:
        image = f" (image {progress.image_index + 1}/{progress.images_total})"
    if progress.stage in ("sampling", "refining"):
        verb = "Sampling" if progress.stage == "sampling" else "Refining"
        return f"{verb} step {progress.image_step}/{progress.image_steps_total}{image}"
    return _STAGE_TEXT.get(progress.stage, progress.stage) + image


def end_text(status: JobStatus, error: JobError | None, progress: JobProgress | None) -> str:
    done = f"{progress.images_done}/{progress.images_total} images" if progress is not None else "no images"
    if status is JobStatus.succeeded:
        return f"Finished ({done})"
    if status is JobStatus.failed:
        return f"Failed: {error.message}" if error is not None else "Failed"
    return f"Stopped ({done})"


def queue_text(position: int | None) -> str:
    return "Waiting in queue" if position is None else f"Waiting in queue (position {position + 1})"


def event_text(event: JobEvent) -> str:
    p = event.progress
    if event.type in TERMINAL_EVENTS and event.status is not None:
        return end_text(event.status, event.error, p)
    if event.type == "queued":
        return queue_text(event.position)
    if event.type == "started":
        return "Starting"
    if event.type == "progress":
        return stage_text(p)
    if event.type == "image_ready" and p is not None:
        return f"Image {p.images_done}/{p.images_total} ready"
    if event.type == "image_skipped" and event.image is not None:
        return f"Image {event.image.index + 1} skipped"
    if event.type == "retrying":
        return f"Retrying: {event.message}" if event.message else "Retrying"
    return event.type.replace("_", " ").capitalize()


def event_message(event: JobEvent, results: list[str]) -> ProgressMessage:
    """The `/ws` message for one hub event; `results` are the job's saved images so far."""
    finished = event.type in TERMINAL_EVENTS
    return ProgressMessage(
        type="progress", task_id=event.job_id, percentage=100 if finished else percentage(event.progress),
        statusText=event_text(event), finished=finished, results=results,
        preview=None if finished else preview_of(event.progress),
    )


def job_status(job: Job, progress: JobProgress, position: int | None) -> TaskStatus:
    """`GET /status/{task_id}`: the job as it is now."""
    finished = job.status in TERMINAL
    if finished:
        text = end_text(job.status, job.error, progress)
    elif job.status is JobStatus.queued:
        text = queue_text(position)
    else:
        text = stage_text(progress) if progress.stage else "Starting"
    return TaskStatus(percentage=100 if finished else percentage(progress), statusText=text,
                      results=results_of(job), finished=finished, preview=None if finished else preview_of(progress))
