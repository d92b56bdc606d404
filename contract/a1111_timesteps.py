"""AUTOMATIC1111's own timestep spacings, as remgo's schedulers `a1111_ddim` and `a1111_unipc` name them: which
samplers run on each, from how many steps, and how many levels they space. Both the orchestrator (which refuses
a request that breaks these rules before queueing it) and the worker's kernel read them (worker-contract.md)."""

from __future__ import annotations

TRAINING_TIMESTEPS = 1000  # a Stable Diffusion model's, over which A1111 spaces its timesteps

# scheduler → (the samplers it runs with, the fewest steps, why no fewer)
SCHEDULE_SAMPLERS: dict[str, tuple[tuple[str, ...], int, str]] = {
    # A1111's DDIM at eta 0 (ddim, the Euler step), at eta 1 (euler_ancestral) and its PLMS
    "a1111_ddim": (("ddim", "euler_ancestral", "plms"), 2, "at 1 AUTOMATIC1111's DDIM makes no model step"),
    # A1111's UniPC with its default options (bh1, order 3)
    "a1111_unipc": (("uni_pc",), 3, "AUTOMATIC1111's UniPC of order 3 needs 3 times"),
}
# samplers that run on one of those schedules only (PLMS's weights assume A1111's evenly spaced timesteps)
SAMPLER_SCHEDULE: dict[str, str] = {"plms": "a1111_ddim"}


def a1111_timesteps(steps: int) -> int:
    """How many timesteps AUTOMATIC1111's timestep samplers space for `steps`: every (1000 // steps)-th of 1000."""
    return -(-TRAINING_TIMESTEPS // max(1, TRAINING_TIMESTEPS // steps))


def pairing_problem(sampler: str, scheduler: str, steps: int, *, image_input: bool = False, hires: bool = False,
                    refiner: bool = False) -> tuple[str, str] | None:
    """(the task field to blame: `sampler`, `scheduler`, `steps`, `image_input`, `hires` or `refiner`; why) when a
    task breaks these rules (they run text to image from pure noise, with the base model only), else None."""
    if scheduler in SCHEDULE_SAMPLERS:
        samplers, fewest, why = SCHEDULE_SAMPLERS[scheduler]
        if sampler not in samplers:
            return "scheduler", (f"the {scheduler} scheduler runs with the {' or '.join(samplers)} sampler only, "
                                 f"not {sampler}")
        if steps < fewest:
            return "steps", f"the {scheduler} scheduler needs at least {fewest} steps ({why})"
        for field, used, what in (("image_input", image_input, "an input image"), ("hires", hires, "hires fix"),
                                  ("refiner", refiner, "a refiner")):
            if used:
                return field, f"the {scheduler} scheduler runs text to image only, without {what}"
    elif sampler in SAMPLER_SCHEDULE:
        return "sampler", f"the {sampler} sampler runs on the {SAMPLER_SCHEDULE[sampler]} scheduler only, not {scheduler}"
    return None
