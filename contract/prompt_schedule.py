"""A per-step conditioning schedule: which prompts the model reads at each of its evaluations.

AUTOMATIC1111's prompt editing (`[from:to:when]`) and alternation (`[a|b]`) turn one prompt into several,
each acting up to a step. The request carries them as `PromptScheduleEntry` (remgo's prompt syntax, one
entry per change), the task as `ScheduledPrompt` (prompt chunks, as `GenerateTask.positive`/`negative`).

Steps are counted as AUTOMATIC1111's guided denoiser counts them: one per model evaluation of an image's
sampling, from 0. Evaluation k reads the first entry whose `until_step` ≥ k; past the last entry (a sampler
that evaluates more often than the schedule says, as DPM adaptive may) it reads the first entry again, as
A1111 does. A sampler that evaluates the model twice a step (Heun, DPM2, …) has A1111 build the schedule over
twice the steps; the AUTOMATIC1111 face does the same, so the counts agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import msgspec

# 200 steps, twice over for a sampler that evaluates the model twice a step.
MAX_SCHEDULE_STEP = 400
MAX_ENTRIES = MAX_SCHEDULE_STEP + 1

UntilStep = Annotated[int, msgspec.Meta(ge=0, le=MAX_SCHEDULE_STEP)]


class PromptScheduleEntry(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The request's entry: these prompts (remgo's syntax, lines as in `prompt`) act up to `until_step`."""

    until_step: UntilStep
    prompt: Annotated[str, msgspec.Meta(max_length=20000)] = ""
    negative_prompt: Annotated[str, msgspec.Meta(max_length=20000)] = ""


class ScheduledPrompt(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The task's entry: these prompt chunks (encoded and concatenated as the task's `positive`/`negative`)
    condition every model evaluation up to `until_step`."""

    until_step: UntilStep
    positive: list[str] = []
    negative: list[str] = []


def schedule_problem(until_steps: Sequence[int], steps: int) -> str | None:
    """Why these `until_step`s do not make a schedule for `steps` steps, or None."""
    if not until_steps:
        return "a schedule needs at least one entry"
    for before, after in zip(until_steps, until_steps[1:], strict=False):
        if after <= before:
            return f"until_step must ascend strictly, got {before} then {after}"
    if until_steps[-1] < steps:
        return f"the last entry must cover the {steps} steps (until_step ≥ {steps}), got {until_steps[-1]}"
    return None


def entry_for(until_steps: Sequence[int], call: int) -> int:
    """The index of the entry evaluation `call` (0-based) reads: the first with call ≤ until_step, else 0."""
    for index, until in enumerate(until_steps):
        if call <= until:
            return index
    return 0
