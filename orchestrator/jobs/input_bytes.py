"""A job's tasks are kept without their input images' bytes (the input store holds each file once, by
sha256); they are put back into the one task sent to a worker, off the event loop."""

from __future__ import annotations

from typing import Any

import msgspec

from contract.image_input import Inpaint, InputImage
from contract.task import GenerateTask
from orchestrator.common.background import in_background
from orchestrator.jobs.store import JobStatus


class InputUnreadable(Exception):
    """An input image of the task is not in the input store (or cannot be read): the job fails, saying so."""


async def _filled(image: InputImage, name: str, store: Any) -> InputImage:
    try:
        data = await in_background(store.read, image.sha256)
    except Exception as exc:  # noqa: BLE001 - the store's own error says what is wrong
        raise InputUnreadable(f"input image {name} ({image.sha256[:12]}…) cannot be read: {exc}") from exc
    return msgspec.structs.replace(image, data=data)


async def with_input_bytes(task: GenerateTask, store: Any) -> GenerateTask:
    """`task` with each input image's data (the image prompts' too) read from the input store; the task
    itself when it has none."""
    method = task.method()
    prompts = task.prompts()
    if method is None and not prompts:
        return task
    changes: dict[str, Any] = {}
    if method is not None:
        images = {"image": method.image}
        if isinstance(method, Inpaint) and method.mask is not None:
            images["mask"] = method.mask
        filled = {name: await _filled(image, name, store) for name, image in images.items()}
        changes["image_input"] = msgspec.structs.replace(method, **filled)
    if prompts:
        changes["image_prompts"] = [
            msgspec.structs.replace(p, image=await _filled(p.image, f"of image_prompts[{i}]", store))
            for i, p in enumerate(prompts)]
    return msgspec.structs.replace(task, **changes)


def inputs_of(task: GenerateTask) -> list[str]:
    """The sha256 of each input image of a task (its image prompts' included)."""
    method = task.method()
    found = [p.image.sha256 for p in task.prompts()]
    if method is None:
        return found
    masks = [method.mask.sha256] if isinstance(method, Inpaint) and method.mask is not None else []
    return [method.image.sha256, *masks, *found]


def pending_inputs(store: Any) -> set[str]:
    """The input images the queued and running jobs of a job store still need."""
    needed: set[str] = set()
    for status in (JobStatus.queued, JobStatus.running):
        cursor = None
        while True:
            jobs, cursor = store.list(status=status, limit=500, cursor=cursor)
            for job in jobs:
                for task in job.normalized.tasks:
                    needed.update(inputs_of(task))
            if cursor is None:
                break
    return needed
