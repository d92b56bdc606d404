"""The request's `hires_fix` → the task's second pass (contract.hires.HiresFix), by AUTOMATIC1111's rules.

The task's width × height stay the first pass; the second pass carries the final size (HiresFixRequest.sizes),
its upscaler, its steps (0 asked: the first pass's) and its denoise. Hires fix is text to image only here:
with an input image or image prompts it is refused by name; a refiner the client asked for is refused, one
a preset brings is dropped with a warning (the second pass would sample without it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from contract.hires import HiresFix, HiresFixRequest
from orchestrator.common.image_params import HiresUse
from orchestrator.normalize.errors import NormalizeError

FIELD = "hires_fix"
KERNEL_NAME = "hires"  # what a worker's kernel declares (Health.image_inputs) when it runs the second pass
MAX_FINAL_SIDE = 4096
MIN_FINAL_SIDE = 64
MAX_UPSCALED_SIDE = 8192  # before the centred crop


@dataclass(frozen=True)
class HiresPlan:
    fix: HiresFix  # the worker's
    use: HiresUse  # the image's record (metadata, history)


def plan_hires(asked: HiresFixRequest | None, width: int, height: int, steps: int, *, image_input: bool,
               image_prompts: bool, refiner_asked: bool, refiner: bool, kernel_runs: bool,
               warn: Callable[[str], None]) -> tuple[HiresPlan | None, bool]:
    """(the plan or None, whether the refiner is kept)."""
    if asked is None:
        return None, refiner
    if not kernel_runs:
        raise NormalizeError(FIELD, "hires fix is not run by the workers' kernel; send no hires_fix")
    if image_input:
        raise NormalizeError(FIELD, "hires fix runs on text to image only; send no input image with it")
    if image_prompts:
        raise NormalizeError(FIELD, "hires fix runs without image prompts here (their control maps and image "
                                    "tokens are made for one size); send no image prompts with it")
    if refiner and refiner_asked:
        raise NormalizeError(FIELD, "hires fix runs without a refiner here; send refiner_model_name \"None\"")
    if refiner:
        warn("the preset's refiner is not used with hires fix")
    (up_w, up_h), (final_w, final_h) = asked.sizes(width, height)
    for side, name in ((final_w, "width"), (final_h, "height")):
        if not MIN_FINAL_SIDE <= side <= MAX_FINAL_SIDE:
            source = "resize_width/resize_height" if asked.resize_width or asked.resize_height else "scale"
            raise NormalizeError(f"{FIELD}.{source.split('/')[0]}",
                                 f"the hires fix's {name} would be {side} (from a {width}×{height} first pass "
                                 f"and its {source}); it must be within {MIN_FINAL_SIDE}…{MAX_FINAL_SIDE}")
    if max(up_w, up_h) > MAX_UPSCALED_SIDE:
        raise NormalizeError(f"{FIELD}.resize_width", f"covering the resize at the first pass's aspect needs "
                                                      f"{up_w}×{up_h}; at most {MAX_UPSCALED_SIDE} a side")
    fix = HiresFix(width=final_w, height=final_h, upscaled_width=up_w, upscaled_height=up_h,
                   upscaler=asked.upscaler, steps=asked.steps or steps, denoise=asked.denoise)
    by_scale = not asked.resize_width and not asked.resize_height
    use = HiresUse(width=final_w, height=final_h, upscaler=asked.upscaler.value, steps=asked.steps,
                   denoise=asked.denoise, scale=asked.scale if by_scale else None,
                   resize=None if by_scale else (asked.resize_width, asked.resize_height))
    return HiresPlan(fix=fix, use=use), False
