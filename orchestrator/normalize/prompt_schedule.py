"""The request's `prompt_schedule` → the task's per-step conditioning schedule (contract.prompt_schedule).

Each entry's prompts become chunks as `prompt`/`negative_prompt` do (a line per chunk, the prompt's first
line with its commas tidied), but nothing else is applied to them: no styles (refused with a schedule, Fooocus V2's
expansion included: which variant would a style wrap?), no wildcards, `[[a,b]]` arrays or `<lora:…>` tags
inside an entry (refused naming the entry; the tags belong in `prompt`, where they act for every step, as
AUTOMATIC1111 reads them before it schedules). The schedule is text to image with the base model only: an
input image, image prompts or hires fix are refused with it, a refiner the client asked for too; a preset's
refiner is dropped with a warning.
"""

from __future__ import annotations

from collections.abc import Callable

from contract.prompt_schedule import PromptScheduleEntry, ScheduledPrompt, schedule_problem
from orchestrator.normalize.errors import NormalizeError
from orchestrator.normalize.prompts import (
    ARRAY_RE,
    LORA_TAG_RE,
    WILDCARD_RE,
    non_empty,
    split_lines,
    tidy_commas,
)

FIELD = "prompt_schedule"
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


def plan_schedule(asked: list[PromptScheduleEntry] | None, steps: int, *, styled: bool, image_input: bool,
                  image_prompts: bool, hires: bool, refiner_asked: bool, refiner: bool, kernel_runs: bool,
                  warn: Callable[[str], None]) -> tuple[list[ScheduledPrompt] | None, bool]:
    """(the task's schedule or None, whether the refiner is kept)."""
    if asked is None:
        return None, refiner
    if not kernel_runs:
        raise NormalizeError(FIELD, "prompt schedules are not run by the workers' kernel; send no prompt_schedule")
    if styled:
        raise NormalizeError("style_selections", "styles (Fooocus V2 included) are not applied with a prompt "
                                                 "schedule; send no styles with it")
    for other, given in (("an input image", image_input), ("image prompts", image_prompts), ("hires fix", hires)):
        if given:
            raise NormalizeError(FIELD, f"a prompt schedule runs on text to image only here; send no {other} with it")
    if refiner and refiner_asked:
        raise NormalizeError(FIELD, "a prompt schedule runs without a refiner here; send refiner_model_name \"None\"")
    if refiner:
        warn("the preset's refiner is not used with a prompt schedule")
    if problem := schedule_problem([e.until_step for e in asked], steps):
        raise NormalizeError(FIELD, problem)
    schedule = [ScheduledPrompt(until_step=e.until_step, positive=_chunks(e.prompt, f"{FIELD}[{i}].prompt", True),
                                negative=_chunks(e.negative_prompt, f"{FIELD}[{i}].negative_prompt", False))
                for i, e in enumerate(asked)]
    return schedule, False
