"""A task's control-model prompts (PyraCanny, CPDS): their maps at the diffusion's size and their units.

With `control.debug_preprocessor` there is no diffusion: as Fooocus shows each preprocessed prompt image and
stops, image i of the task is image prompt i's control image, so the task asks for exactly one image per
image prompt (its `seeds` number its `image_prompts`; the seeds themselves are unused).
"""

from __future__ import annotations

import numpy as np

from contract.events import FailureKind
from contract.image_prompt import ImagePrompt
from contract.task import GenerateTask
from inference_worker.diffusers_kernel.image_input import pixels
from inference_worker.diffusers_kernel.image_prompts.control import CONTROL_TYPES
from inference_worker.diffusers_kernel.image_prompts.preprocess import control_map
from inference_worker.diffusers_kernel.image_prompts.residuals import (
    ControlResiduals,
    ControlUnit,
    hint_tensor,
    stop_sigma,
)
from inference_worker.diffusers_kernel.sampling.sigmas import ModelSigmas
from inference_worker.kernel import KernelError


def control_prompts(task: GenerateTask) -> list[tuple[int, ImagePrompt]]:
    return [(i, p) for i, p in enumerate(task.prompts()) if p.type in CONTROL_TYPES]


def check(task: GenerateTask) -> None:
    """What is refused before any model loads."""
    for i, prompt in control_prompts(task):
        pixels.check_header(prompt.image, f"image_prompts[{i}].image")
    count = len(task.prompts())
    if task.control_settings().debug_preprocessor:
        if not count:
            raise KernelError(FailureKind.bad_request, "control.debug_preprocessor shows the image prompts' "
                              "control images, and the task has no image prompt", "control.debug_preprocessor")
        if len(task.seeds) != count:
            raise KernelError(FailureKind.bad_request, f"control.debug_preprocessor makes one image per image "
                              f"prompt: ask for {count} (seeds), not {len(task.seeds)}", "seeds")


def prompt_map(task: GenerateTask, index: int, size: tuple[int, int]) -> np.ndarray:
    """Control prompt `index`'s control image (H×W×3 uint8) at the diffusion's (width, height)."""
    prompt = task.prompts()[index]
    settings = task.control_settings()
    rgb = pixels.load_rgb(prompt.image, f"image_prompts[{index}].image")
    return control_map(prompt.type, rgb, size, settings.canny_low, settings.canny_high, settings.skip_preprocessor)


def residuals(task: GenerateTask, nets: dict[int, object], size: tuple[int, int],
              sigmas: ModelSigmas) -> ControlResiduals | None:  # fmt: skip
    """The base pass's control for this task at this size; None without control prompts."""
    units = [
        ControlUnit(nets[i], hint_tensor(prompt_map(task, i, size), *size), p.weight, stop_sigma(sigmas, p.stop))
        for i, p in control_prompts(task)
    ]
    return ControlResiduals(units, task.control_settings().softness) if units else None
