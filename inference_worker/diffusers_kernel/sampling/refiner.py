"""A second model finishing the image: which swap method runs, its conditioning, and the sampling runs.

With `switch = round(steps × refiner_switch)`:
- `joint`: one sampler run; as in Fooocus, which swaps models in its step callback, the base makes every
  evaluation up to and including the first one of step `switch` (so it computes `switch + 1` steps) and
  the refiner every one after, the rest of step `switch` included; the sampler's history carries over.
- `separate`: the base samples down to the noise level of step `switch` and stops there, noise and all;
  a fresh sampler run with the refiner continues from that level to zero.
- `vae`: the base denoises fully over its part of the schedule; the clean latent moves to the refiner's
  latent space (through pixels: base VAE decode, refiner VAE encode, when the spaces differ), is
  re-noised to 1.4 × the noise level of step `switch` with noise from seed + 1 whose per-pixel channel
  mean is the base's last noise estimate's (scaled as a starting latent is, `start_noise_scale`), and
  the refiner samples it to zero.

As in Fooocus the refiner reuses the base's prompt encoding: an SDXL refiner takes it as is, the SDXL
refiner architecture the second (OpenCLIP-G) encoder's part with the same pooled vector, an SD 1.5
refiner the first text encoder's part through that encoder's final layer norm. An SD 1.5 refiner
of an SDXL base always uses `vae` (its latent space differs); the image is then decoded by its VAE.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from inference_worker.diffusers_kernel.conditioning.prompts import Conditioning
from inference_worker.diffusers_kernel.sampling.denoiser import Denoiser, ModelPass
from inference_worker.diffusers_kernel.sampling.guidance import Guidance
from inference_worker.diffusers_kernel.sampling.noise import NoiseSource
from inference_worker.diffusers_kernel.sampling.samplers import start_noise_scale
from inference_worker.diffusers_kernel.sampling.sigmas import ModelSigmas

RENOISE = 1.4  # the `vae` method re-noises a little above the switch level


@dataclass
class RefinerPlan:
    method: str  # joint | separate | vae
    switch: int
    same_latents: bool  # base and refiner share a latent space
    refiner_pipe: object


def switch_step(steps: int, fraction: float) -> int:
    return int(round(steps * fraction))


def handover_step(method: str, switch: int) -> int:
    """The first step the refiner makes the prediction of (its first evaluation may fall in the step before)."""
    return switch + 1 if method == "joint" else switch


class JointDenoiser(Denoiser):
    """Base, then refiner in one run: the swap follows the base's first evaluation of step `switch`."""

    def __init__(self, base: ModelPass, refiner: ModelPass, guidance: Guidance, switch: int) -> None:
        super().__init__([base, refiner], guidance)
        self.handover = switch
        self.swapped = False
        self.made_by = base

    def pass_for(self, step: int) -> ModelPass:
        return self.passes[1] if self.swapped else self.passes[0]

    @property
    def model_sigmas(self) -> ModelSigmas:
        return self.made_by.sigmas  # the table of the model that made the latest estimate

    def __call__(self, x: torch.Tensor, sigma: float, step: int) -> torch.Tensor:
        self.made_by = self.pass_for(step)
        x0 = super().__call__(x, sigma, step)
        self.swapped = self.swapped or step >= self.handover
        return x0


def method_for(requested: str, base_arch: str, refiner_arch: str) -> str:
    return requested if base_arch == refiner_arch else "vae"


def refiner_conditioning(cond: Conditioning, base_arch: str, refiner_arch: str, base_pipe) -> Conditioning:
    """The base's conditioning in the form the refiner's UNet takes."""
    if base_arch == refiner_arch:
        return cond
    if refiner_arch == "sdxl_refiner":  # the OpenCLIP-G half of each position, and the pooled vector as is
        width = int(base_pipe.text_encoder_2.config.hidden_size)
        return Conditioning(embeds=cond.embeds[..., -width:], pooled=cond.pooled)
    encoder = base_pipe.text_encoder
    width = int(encoder.config.hidden_size)
    norm = getattr(encoder, "text_model", encoder).final_layer_norm
    with torch.no_grad():
        embeds = norm(cond.embeds[..., :width].to(norm.weight.dtype))
    return Conditioning(embeds=embeds, pooled=None)


def to_refiner_latents(x0: torch.Tensor, base_vae, refiner_vae) -> torch.Tensor:
    """A clean base latent → the refiner's latent space, through pixels."""
    cfg = base_vae.config
    shift = getattr(cfg, "shift_factor", None) or 0.0
    pixels = base_vae.decode((x0 / cfg.scaling_factor + shift).to(base_vae.dtype), return_dict=False)[0]
    rcfg = refiner_vae.config
    rshift = getattr(rcfg, "shift_factor", None) or 0.0
    mean = refiner_vae.encode(pixels.clamp(-1, 1).to(refiner_vae.dtype)).latent_dist.mean
    return ((mean.float() - rshift) * rcfg.scaling_factor).to(x0.device)


OnStep = Callable[[int, torch.Tensor], None]


@dataclass
class Run:
    """What the kernel hands over: the sampler, both model passes, guidance and schedules."""

    sampler: Callable
    base: ModelPass
    refiner: ModelPass
    guidance: Guidance
    sigmas: torch.Tensor  # the base's schedule (descending, ending with 0)
    refiner_sigmas: Callable[[], torch.Tensor]  # the same schedule on the refiner's noise table
    noise: NoiseSource
    seed: int
    on_step: Callable[[int], OnStep]  # offset → reporter; the reporter also announces the refiner
    base_vae: object
    refiner_vae: object


def sample(plan: RefinerPlan, run: Run, x: torch.Tensor) -> torch.Tensor:
    """The final latent, in the base's latent space unless `vae` moved it to the refiner's."""
    k, sig = plan.switch, run.sigmas
    if handover_step(plan.method, k) == 0:  # the refiner does every step
        return run.sampler(
            Denoiser([run.refiner], run.guidance), x, run.refiner_sigmas(), run.noise, run.on_step(0)
        )
    if plan.method == "joint":
        denoiser = JointDenoiser(run.base, run.refiner, run.guidance, k)
        return run.sampler(denoiser, x, sig, run.noise, run.on_step(0))
    if plan.method == "separate":
        x = run.sampler(Denoiser([run.base], run.guidance), x, sig[: k + 1], run.noise, run.on_step(0))
        return run.sampler(Denoiser([run.refiner], run.guidance), x, sig[k:], run.noise, run.on_step(k))
    # vae
    base = Denoiser([run.base], run.guidance)
    head = sig[: k + 1].clone()
    head[-1] = 0.0
    x = run.sampler(base, x, head, run.noise, run.on_step(0))
    if not plan.same_latents:
        x = to_refiner_latents(x, run.base_vae, run.refiner_vae)
    tail = run.refiner_sigmas()[k:] * RENOISE
    fresh = run.noise.reseeded(run.seed + 1)  # SDE noise stays on the image's Brownian path
    n = fresh(x)
    if base.last_eps is not None:
        n = n - n.mean(dim=1, keepdim=True) + base.last_eps.mean(dim=1, keepdim=True).to(n.device)
    x = x + n * start_noise_scale(float(tail[0]), run.refiner.sigmas.sigma_max)
    return run.sampler(Denoiser([run.refiner], run.guidance), x, tail, fresh, run.on_step(k))
