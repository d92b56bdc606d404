"""Jobs built by hand (no normalizer) for store and dispatcher tests."""

from __future__ import annotations

import msgspec

from contract.request import GenerateRequest
from contract.task import GenerateTask, ModelRef
from orchestrator.common.image_params import ImageParams
from orchestrator.jobs.store import Job, JobStatus, Normalized


def image_params(seed: int, steps: int, size: int) -> ImageParams:
    return ImageParams(
        prompt="a red fox", negative_prompt="", styles=[], performance="Speed", steps=steps, width=size,
        height=size, guidance_scale=4.0, sharpness=2.0, adm_guidance=(1.5, 0.8, 0.3), base_model="tiny.safetensors",
        sampler="euler", scheduler="karras", seed=seed, clip_skip=2, adaptive_cfg=7.0, refiner_switch=0.8,
    )


def normalized(job_id: str, images: int = 1, *, seed: int = 100, steps: int = 3, size: int = 64,
               model: str = "tiny.safetensors", split: int | None = None, prompt: str = "a red fox") -> Normalized:
    """`images` images from seed, seed+1, …; `split` makes two tasks (the first with `split` images)."""
    seeds = [seed + i for i in range(images)]
    groups = [seeds] if split is None else [seeds[:split], seeds[split:]]
    tasks = [
        GenerateTask(task_id=f"{job_id}-{k}", base_model=ModelRef(name=model, path=f"/models/{model}"),
                     width=size, height=size, seeds=group, steps=steps, positive=[prompt])
        for k, group in enumerate(groups)
    ]
    return Normalized(tasks=tasks, images=[image_params(s, steps, size) for s in seeds],
                      warnings=[], request=GenerateRequest(prompt="a red fox", image_number=images))


def make_job(job_id: str, images: int = 1, *, priority: int = 0, webhook_url: str | None = None, **kw) -> Job:
    body = msgspec.json.encode({"prompt": "a red fox", "image_number": images})
    return Job(id=job_id, status=JobStatus.queued, normalized=normalized(job_id, images, **kw),
               request=msgspec.Raw(body), priority=priority, webhook_url=webhook_url)
