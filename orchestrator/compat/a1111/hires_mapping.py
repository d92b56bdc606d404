"""AUTOMATIC1111's hires fix (`enable_hr` and its `hr_*` fields, the old `firstphase_width/height`) →
remgo's `hires_fix` request field, each field honoured or refused by name.

Honoured as A1111 runs them: `hr_scale`, `hr_resize_x/y`, `hr_upscaler` (its latent modes, and `None`,
`Lanczos`, `Nearest`; any other name needs a super-resolution model, which is not run here),
`hr_second_pass_steps` (0: the first pass's steps), `denoising_strength` (A1111's 0.75 when null). The
second pass runs the first pass's sampler, scheduler, prompts and checkpoint: `hr_sampler_name`,
`hr_scheduler`, `hr_prompt`, `hr_negative_prompt` and `hr_checkpoint_name` are taken when they say the
same (empty, A1111's "Use same …" choices, or the same value) and refused otherwise.
"""

from __future__ import annotations

from typing import Any

from contract.hires import HiresUpscaler
from orchestrator.catalog import Catalog
from orchestrator.common.field_error import FieldError
from orchestrator.compat.a1111.face_options import OptionRefused, find_checkpoint
from orchestrator.compat.a1111.request_models import Txt2ImgRequest
from orchestrator.compat.a1111.sampler_names import NameRefused, Sampling, resolve

TXT2IMG_DENOISE = 0.75  # StableDiffusionProcessingTxt2Img's denoising_strength
MAX_SIDE = 4096
UPSCALERS = [u.value for u in HiresUpscaler]
SAME = {"", "Use same sampler", "Use same scheduler", "Use same checkpoint"}
# remgo's hires_fix fields (as the normalizer's errors name them) → A1111's
A1111_NAMES = {"scale": "hr_scale", "resize_width": "hr_resize_x", "resize_height": "hr_resize_y",
               "upscaler": "hr_upscaler", "steps": "hr_second_pass_steps", "denoise": "denoising_strength"}


class HiresRefused(FieldError):
    """`field` is the A1111 field."""


def first_pass_size(body: Txt2ImgRequest) -> tuple[int, int] | None:
    """The old hires fix's `firstphase_width/height`: when either is set, A1111 runs the first pass at that
    size (its `__post_init__`, whether or not `enable_hr` is on); None when neither is."""
    fw, fh = body.firstphase_width or 0, body.firstphase_height or 0
    if fw == 0 and fh == 0:
        return None
    for name, value in (("firstphase_width", fw), ("firstphase_height", fh)):
        if value <= 0:
            raise HiresRefused(name, f"with the other first pass side set, give this one too (got {value})")
    return fw, fh


def _same(given: str | None) -> bool:
    return given is None or given.strip() in SAME


def _check_same_sampling(body: Txt2ImgRequest, sampling: Sampling) -> None:
    sampler_field = "sampler_name" if body.sampler_name else "sampler_index"
    first_sampler = getattr(body, sampler_field)
    sampler = first_sampler if _same(body.hr_sampler_name) else body.hr_sampler_name
    scheduler = body.scheduler if _same(body.hr_scheduler) else body.hr_scheduler
    try:
        hr = resolve(sampler, scheduler, field="hr_sampler_name", scheduler_field="hr_scheduler")
    except NameRefused as exc:
        raise HiresRefused(exc.field, exc.message) from None
    if hr.sampler.ours != sampling.sampler.ours:
        raise HiresRefused("hr_sampler_name", f"the second pass runs the first pass's sampler here "
                                              f"({sampling.sampler.name}); send null or \"Use same sampler\"")
    if hr.scheduler.ours != sampling.scheduler.ours:
        raise HiresRefused("hr_scheduler", f"the second pass runs the first pass's schedule here "
                                           f"({sampling.scheduler.label}); send null or \"Use same scheduler\"")


def _check_same_text(body: Txt2ImgRequest) -> None:
    for name, first in (("hr_prompt", body.prompt), ("hr_negative_prompt", body.negative_prompt)):
        given = getattr(body, name)
        if given and given != (first or ""):
            raise HiresRefused(name, "the second pass runs the first pass's prompts here; send \"\" (or the "
                                     "same text)")


def _check_same_checkpoint(body: Txt2ImgRequest, catalog: Catalog, checkpoint: str | None) -> None:
    if _same(body.hr_checkpoint_name):
        return
    try:
        found = find_checkpoint(catalog, body.hr_checkpoint_name or "", "hr_checkpoint_name")
    except OptionRefused as exc:
        raise HiresRefused(exc.field, exc.message) from None
    if found.name != checkpoint:
        raise HiresRefused("hr_checkpoint_name", "the second pass runs the first pass's checkpoint here; send "
                                                 "null or \"Use same checkpoint\"")


def hires_fix(body: Txt2ImgRequest, sampling: Sampling, catalog: Catalog, checkpoint: str | None,
              refiner: str) -> dict[str, Any]:
    """remgo's `hires_fix` for an `enable_hr` body (refusals name A1111's field)."""
    if refiner != "None":
        raise HiresRefused("refiner_checkpoint", "a refiner is not run with hires fix here; send null")
    upscaler = "Latent" if body.hr_upscaler is None else body.hr_upscaler
    if upscaler not in UPSCALERS:
        raise HiresRefused("hr_upscaler", f"{upscaler!r} needs a super-resolution model, which is not run here; "
                                          f"one of {', '.join(UPSCALERS)}")
    scale = 2.0 if body.hr_scale is None else body.hr_scale
    if not 1.0 <= scale <= 4.0:
        raise HiresRefused("hr_scale", f"must be within 1…4, got {scale:g}")
    for name in ("hr_resize_x", "hr_resize_y"):
        value = getattr(body, name) or 0
        if not 0 <= value <= MAX_SIDE:
            raise HiresRefused(name, f"must be within 0…{MAX_SIDE} (0: not given), got {value}")
    steps = body.hr_second_pass_steps or 0
    if not 0 <= steps <= 200:
        raise HiresRefused("hr_second_pass_steps", f"must be within 0…200 (0: the first pass's), got {steps}")
    denoise = TXT2IMG_DENOISE if body.denoising_strength is None else body.denoising_strength
    if not 0 < denoise <= 1:
        raise HiresRefused("denoising_strength", f"the second pass's: 0 < x ≤ 1, got {denoise:g}")
    _check_same_sampling(body, sampling)
    _check_same_text(body)
    _check_same_checkpoint(body, catalog, checkpoint)
    return {"scale": scale, "resize_width": body.hr_resize_x or 0, "resize_height": body.hr_resize_y or 0,
            "upscaler": upscaler, "steps": steps, "denoise": denoise}


def a1111_name(sub: str) -> str:
    """`scale` (of `hires_fix.scale`) → `hr_scale`."""
    return A1111_NAMES.get(sub, "enable_hr")
