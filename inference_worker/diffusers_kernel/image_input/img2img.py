"""Partial denoise as Fooocus runs it: exactly `steps` steps, the tail of a longer schedule.

diffusers' `strength` runs fewer steps of the requested schedule; Fooocus (ComfyUI's KSampler) instead
builds the schedule for int(steps / denoise) steps and keeps its last steps + 1 levels, so the image
gets all its steps at the low end. A denoise above 0.9999 is the whole schedule. The start latent is
the encoded image plus unit noise × the first level (`samplers.start_noise_scale`: no sqrt(1 + σ²) factor
below the model's highest level).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

FULL_DENOISE = 0.9999


def schedule_tail(build: Callable[[int], torch.Tensor], steps: int, denoise: float | None) -> torch.Tensor:
    """`build(n)`: the schedule of n steps (n + 1 levels ending with 0)."""
    if denoise is None or denoise > FULL_DENOISE:
        return build(steps)
    return build(int(steps / denoise))[-(steps + 1) :]
