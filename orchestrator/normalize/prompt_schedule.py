"""The request's `prompt_schedule` → the task's per-step conditioning schedule (contract.prompt_schedule).

Each entry's prompts become chunks as `prompt`/`negative_prompt` do (a line per chunk, the prompt's first
line with its commas tidied) and the styles wrap each entry as they wrap a prompt (normalize/job.py; AUTOMATIC1111
applies styles before it reads the editing syntax), but nothing else is applied to them: no Fooocus V2 expansion
(refused with a schedule: which entry would it expand?), no wildcards, `[[a,b]]` arrays or `<lora:…>` tags
inside an entry (refused naming the entry; the tags belong in `prompt`, where they act for every step, as
AUTOMATIC1111 reads them before it schedules). The schedule goes with text to image and with AUTOMATIC1111's
img2img — Vary, and Inpaint with `inpaint_a1111` (its entries count the steps that run, from the first, as
A1111's img2img does) — and with hires fix when its second pass has its own (`hires_fix.prompt_schedule`, over
that pass's steps: A1111 schedules it anew), and with a refiner swapped in jointly, whose evaluations continue the
count (as A1111's refiner does): Upscale, Fooocus's inpainting, an inpaint additional prompt, image prompts, the
`separate` and `vae` swaps and a refiner of another latent space are refused with it.
"""

from __future__ import annotations

import msgspec

from contract.image_input import ImageInput
from contract.prompt_schedule import PromptScheduleEntry, ScheduledPrompt, schedule_problem
from contract.task import schedules_with
from orchestrator.catalog import ModelFile
from orchestrator.normalize.errors import NormalizeError
from orchestrator.normalize.hires import HiresPlan
from orchestrator.normalize.prompts import (
    ARRAY_RE,
    LORA_TAG_RE,
    WILDCARD_RE,
    non_empty,
    split_lines,
    tidy_commas,
)

FIELD = "prompt_schedule"
HIRES_FIELD = "hires_fix.prompt_schedule"
KERNEL_NAME = "prompt_schedule"  # what a worker's kernel declares (Health.image_inputs) when it runs schedules


def _chunks(text: str, where: str, tidy: bool) -> list[str]:
    for pattern, what in ((LORA_TAG_RE, "a <lora:…> tag (put it in prompt: it acts at every step)"),
                          (WILDCARD_RE, "a wildcard"), (ARRAY_RE, "a [[…]] array")):
        if pattern.search(text):
            raise NormalizeError(where, f"{what} is not read inside a prompt schedule's entry")
    lines = split_lines(text) or [""]
    if tidy:  # as the main prompt's first line (normalize/fields.py); a negative is taken as written
        lines[0] = tidy_commas(lines[0])
    return non_empty(lines, lines[0])


def plan_schedule(asked: list[PromptScheduleEntry] | None, steps: int, *, expansion: bool,
                  image_input: ImageInput | None, additional_prompt: bool, image_prompts: bool,
                  hires: HiresPlan | None, hires_asked: list[PromptScheduleEntry] | None,
                  refiner: ModelFile | None, swap_method: str, base_architecture: str | None,
                  kernel_runs: bool) -> tuple[list[ScheduledPrompt] | None, HiresPlan | None]:
    """(the task's schedule or None, the hires plan with its second pass's schedule). `hires_asked` is
    `hires_fix.prompt_schedule`: the second pass's own, over its steps."""
    if asked is None and hires_asked is None:
        return None, hires
    field = FIELD if asked is not None else HIRES_FIELD
    if not kernel_runs:
        raise NormalizeError(field, "prompt schedules are not run by the workers' kernel; send no prompt_schedule")
    if expansion:
        raise NormalizeError("style_selections", "Fooocus V2's prompt expansion is not applied with a prompt "
                                                 "schedule (which entry would it expand?); leave it out")
    if image_input is not None and not schedules_with(image_input):
        raise NormalizeError(FIELD, "a prompt schedule goes with text to image, Vary and AUTOMATIC1111's inpainting "
                                    "(inpaint_a1111) only here; send no prompt_schedule with this input image")
    if additional_prompt:
        raise NormalizeError("inpaint_additional_prompt", "an additional inpaint prompt does not go with a prompt "
                                                          "schedule; put it in the schedule's entries")
    if image_prompts:
        raise NormalizeError(field, "a prompt schedule runs without image prompts here; send no image prompts with it")
    if hires is not None and asked is not None and hires_asked is None:
        raise NormalizeError(HIRES_FIELD, f"with a prompt schedule the hires fix's second pass needs its own, over "
                                          f"its {hires.fix.steps} steps (AUTOMATIC1111 schedules that pass anew)")
    if refiner is not None:  # its evaluations go on reading the schedule, so it must share the base's run
        if swap_method != "joint":
            raise NormalizeError("refiner_swap_method", f"a prompt schedule runs with the joint refiner swap only "
                                                        f"(the refiner continues the base's count), not {swap_method}")
        if _family(refiner.architecture) != _family(base_architecture):
            raise NormalizeError("refiner_model_name", f"a prompt schedule runs with a refiner of the base's latent "
                                                       f"space only; {refiner.name} swaps by decoding the image")
    schedule = None if asked is None else _entries(asked, steps, FIELD)
    if hires is not None and hires_asked is not None:
        fix = msgspec.structs.replace(hires.fix, prompt_schedule=_entries(hires_asked, hires.fix.steps, HIRES_FIELD))
        hires = HiresPlan(fix=fix, use=hires.use)
    return schedule, hires


def _family(architecture: str | None) -> str | None:
    """The latent space of a checkpoint architecture: SDXL's (the refiner's too) or SD 1.5's."""
    return "sdxl" if architecture in ("sdxl", "sdxl_refiner") else architecture


def _entries(asked: list[PromptScheduleEntry], steps: int, field: str) -> list[ScheduledPrompt]:
    if problem := schedule_problem([e.until_step for e in asked], steps):
        raise NormalizeError(field, problem)
    return [ScheduledPrompt(until_step=e.until_step, positive=_chunks(e.prompt, f"{field}[{i}].prompt", True),
                            negative=_chunks(e.negative_prompt, f"{field}[{i}].negative_prompt", False))
            for i, e in enumerate(asked)]
