"""A task's per-step conditioning schedule (contract.prompt_schedule), encoded.

Each distinct chunk list is encoded once per task, however many entries name it (alternation names the same
two prompts at every other step). `at(call)` gives the conditioning of model evaluation `call` (0-based, as
AUTOMATIC1111's denoiser counts them): the whole `Conditioning` follows the entry, so SDXL's pooled vector
(its added conditioning) is the chosen prompt's as well as its hidden states.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from contract.prompt_schedule import ScheduledPrompt, entry_for
from inference_worker.diffusers_kernel.conditioning.prompts import Conditioning, PromptContext, encode


@dataclass
class ScheduledConditioning:
    until_steps: list[int]
    conds: list[Conditioning]
    unconds: list[Conditioning | None]  # None: guidance 1 reads no negative prompt

    def at(self, call: int) -> tuple[Conditioning, Conditioning | None]:
        index = entry_for(self.until_steps, call)
        return self.conds[index], self.unconds[index]

    def mapped(self, form: Callable[[Conditioning], Conditioning]) -> ScheduledConditioning:
        """The same schedule with each conditioning in another model's `form` (a refiner's)."""
        return ScheduledConditioning(self.until_steps, [form(c) for c in self.conds],
                                     [None if u is None else form(u) for u in self.unconds])


def encode_schedule(pipe, arch: str, entries: list[ScheduledPrompt], clip_skip: int, ctx: PromptContext,
                    with_negative: bool) -> ScheduledConditioning:
    encoded: dict[tuple[str, ...], Conditioning] = {}

    def once(chunks: list[str], field_name: str) -> Conditioning:
        key = tuple(chunks)
        if key not in encoded:
            encoded[key] = encode(pipe, arch, chunks, clip_skip, ctx, field_name)
        return encoded[key]

    conds = [once(e.positive, f"prompt_schedule[{i}].positive") for i, e in enumerate(entries)]
    unconds = [once(e.negative, f"prompt_schedule[{i}].negative") if with_negative else None
               for i, e in enumerate(entries)]
    return ScheduledConditioning([e.until_step for e in entries], conds, unconds)
