"""`GET /sdapi/v1/progress`: the job this face is running, in A1111's progress shape.

A1111 runs one job at a time and reports it; here it is the oldest running job that came through this face
(jobs of other faces are their clients'). A1111 counts batches as its `job_count`; remgo makes the images one
at a time, so `job_count` is the job's images and `job_no` those done. `progress` follows A1111's formula
(0.01 once started, then the finished images and the current image's steps); `eta_relative` is the time
left at the rate so far. `current_image` is the live preview, a small JPEG (A1111 sends a PNG).
"""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime
from typing import Any

from orchestrator.jobs.model import JobProgress
from orchestrator.jobs.store import Job

STAGES = {"loading": "Loading models", "encoding_prompt": "Encoding the prompt", "sampling": "Sampling",
          "refining": "Refining", "decoding": "Decoding", "saving": "Saving"}


def state(job: Job | None, progress: JobProgress | None, *, interrupted: bool, skipped: bool) -> dict[str, Any]:
    if job is None or progress is None:
        return {"skipped": False, "interrupted": False, "stopping_generation": False, "job": "",
                "job_count": 0, "job_timestamp": "0", "job_no": 0, "sampling_step": 0, "sampling_steps": 0}
    started = job.started_at or job.created_at
    return {
        "skipped": skipped, "interrupted": interrupted, "stopping_generation": interrupted, "job": job.id,
        "job_count": progress.images_total, "job_no": progress.images_done,
        "job_timestamp": datetime.fromtimestamp(started, UTC).strftime("%Y%m%d%H%M%S"),
        "sampling_step": progress.image_step or 0, "sampling_steps": progress.image_steps_total or 0,
    }


def fraction(progress: JobProgress) -> float:
    if progress.images_total <= 0:
        return 0.0
    done = 0.01 + progress.images_done / progress.images_total
    if progress.image_steps_total:
        done += (progress.image_step or 0) / progress.image_steps_total / progress.images_total
    return min(done, 1.0)


def payload(job: Job | None, progress: JobProgress | None, *, interrupted: bool = False, skipped: bool = False,
            with_image: bool = True, now: float | None = None) -> dict[str, Any]:
    if job is None or progress is None:
        return {"progress": 0, "eta_relative": 0, "state": state(None, None, interrupted=False, skipped=False),
                "current_image": None, "textinfo": None}
    done = fraction(progress)
    elapsed = max(0.0, (now or time.time()) - (job.started_at or job.created_at))
    eta = elapsed / done - elapsed if done > 0 else 0.0
    image = base64.b64encode(progress.preview).decode() if with_image and progress.preview else None
    text = STAGES.get(progress.stage or "", progress.stage or "Waiting")
    if progress.image_step is not None and progress.stage in ("sampling", "refining"):
        text += f" step {progress.image_step}/{progress.image_steps_total}"
    return {"progress": done, "eta_relative": eta,
            "state": state(job, progress, interrupted=interrupted, skipped=skipped),
            "current_image": image, "textinfo": text}
