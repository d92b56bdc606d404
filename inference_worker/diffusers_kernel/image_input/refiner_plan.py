"""Which models sample a partial denoise, by Fooocus's rule.

A refiner in the base's latent space keeps its plan: its switch step counts in the shortened schedule.
A refiner with another latent space (an SD 1.5 refiner of an SDXL base) swaps through pixels (`vae`) above
denoise 0.9; at or below it only one model runs: the base when denoise > ((steps − switch) / steps)^0.834
(the base's share of a Karras schedule), else the refiner alone, from an image its own VAE encodes.
"""

from __future__ import annotations

from collections.abc import Callable

from inference_worker.diffusers_kernel.sampling.refiner import RefinerPlan, handover_step

VAE_SWAP_ABOVE = 0.9
_KARRAS_SHARE = 0.834


def plan_at_denoise(
    plan: RefinerPlan | None, steps: int, denoise: float | None, warn: Callable[[str], None]
) -> RefinerPlan | None:
    if plan is None or denoise is None or plan.same_latents or denoise > VAE_SWAP_ABOVE:
        return plan
    if denoise > ((steps - plan.switch) / steps) ** _KARRAS_SHARE:
        warn(f"denoise {denoise:g}: only the base model samples (the refiner's latent space differs)")
        return None
    warn(f"denoise {denoise:g}: only the refiner samples (the refiner's latent space differs)")
    # handover at step 0: the refiner makes every step, in its own latent space
    return RefinerPlan(method="separate", switch=0, same_latents=False, refiner_pipe=plan.refiner_pipe)


def encodes_with_refiner(plan: RefinerPlan | None) -> bool:
    """The refiner makes every step in a latent space of its own: its VAE encodes the input."""
    return plan is not None and not plan.same_latents and handover_step(plan.method, plan.switch) == 0
