"""Control prompts acting on the base UNet: each ControlNet's residuals, softened, weighted and summed.

Per UNet evaluation at noise level sigma, as ldm_patched's ControlNet does for a prompt with
start 0 and end `stop`: the prompt acts while sigma ≥ sigma_stop, where sigma_stop is the model's sigma at
timestep (1 − stop)·999 (log-linear between table entries; stop 1 → every step). The decision is per
evaluation, by that evaluation's sigma, so a sampler's intermediate evaluations are judged alike.
An acting ControlNet reads the same latent, timestep, prompt embeddings and SDXL added conditioning as
the UNet (positive and negative alike) and its map at the latent's pixel size; its residuals (the down
blocks', then the middle block's) are multiplied by Fooocus's softness factor, 1 − softness·(1 − i/9)
for the i-th of the first ten (the middle one of SDXL is the tenth: untouched), and by the prompt's
weight; the residuals of all acting prompts are summed and added to the UNet's skip connections and
middle block. A prompt of weight 0 adds nothing and is not run.

Only the base model's passes get control: Fooocus hands the refiner its prompts without it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from inference_worker.diffusers_kernel.sampling.sigmas import ModelSigmas

SOFTENED = 10  # how many residuals, from the first, Fooocus's softness scales
LAST_TIMESTEP = 999.0


def softness_factors(count: int, softness: float) -> list[float]:
    return [1.0 - softness * (1.0 - i / (SOFTENED - 1)) if i < SOFTENED else 1.0 for i in range(count)]


def stop_sigma(sigmas: ModelSigmas, stop: float) -> float:
    """The lowest sigma at which a prompt with this stop still acts."""
    if stop >= 1.0:
        return 0.0
    return float(sigmas.sigma(torch.tensor((1.0 - stop) * LAST_TIMESTEP, dtype=torch.float64)))


def hint_tensor(control_map: np.ndarray, width: int, height: int) -> torch.Tensor:
    """H×W×3 uint8 → 1×3×h×w in [0, 1] at the latent's pixel size (the VAE's stride of 8)."""
    hint = torch.from_numpy(np.ascontiguousarray(control_map)).permute(2, 0, 1)[None].float() / 255.0
    size = (height // 8 * 8, width // 8 * 8)
    if tuple(hint.shape[-2:]) != size:
        hint = torch.nn.functional.interpolate(hint, size=size, mode="nearest-exact")
    return hint


@dataclass
class ControlUnit:
    net: torch.nn.Module  # a diffusers ControlNetModel
    hint: torch.Tensor  # 1×3×h×w in [0, 1]
    weight: float
    stop_sigma: float

    def acts_at(self, sigma: float) -> bool:
        return self.weight != 0.0 and sigma >= self.stop_sigma


class ControlResiduals:
    """Callable per UNet evaluation: the extra UNet arguments, or None when no prompt acts at this sigma."""

    def __init__(self, units: list[ControlUnit], softness: float) -> None:
        self.units = units
        self.softness = softness

    def __call__(self, x_in: torch.Tensor, t: torch.Tensor, sigma: float, embeds: torch.Tensor,
                 added: dict | None) -> dict | None:  # fmt: skip
        down: list[torch.Tensor] | None = None
        mid: torch.Tensor | None = None
        for unit in self.units:
            if not unit.acts_at(float(sigma)):
                continue
            net = unit.net
            hint = unit.hint.to(x_in.device, net.dtype).expand(x_in.shape[0], -1, -1, -1)
            blocks, middle = net(
                x_in.to(net.dtype), t, encoder_hidden_states=embeds.to(net.dtype), controlnet_cond=hint,
                added_cond_kwargs=added, return_dict=False,
            )  # fmt: skip
            outs = list(blocks) + [middle]
            outs = [o * (f * unit.weight) for o, f in zip(outs, softness_factors(len(outs), self.softness), strict=True)]
            if down is None:
                down, mid = outs[:-1], outs[-1]
            else:
                down = [a + b for a, b in zip(down, outs[:-1], strict=True)]
                mid = mid + outs[-1]
        if down is None:
            return None
        return {"down_block_additional_residuals": tuple(down), "mid_block_additional_residual": mid}
