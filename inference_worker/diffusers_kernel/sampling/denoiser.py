"""The model as a denoiser: x (at noise level sigma) → estimate of the clean latent x0, with guidance.

The UNet sees x_in = x / sqrt(sigma² + 1) at the whole training timestep t nearest to sigma (in log
space, as Fooocus conditions it), or with `timestep_of` at sigma's fractional timestep (as AUTOMATIC1111 and
diffusers do); progress and the ADM switch read the same t. An epsilon-prediction
model gives x0 = x − sigma·eps, a v-prediction model x0 = (x_in − sigma·v) / sqrt(sigma² + 1). With `boundary` (the `lcm` scheduler) the estimate gets LCM's boundary condition,
c_skip(t)·x_t + c_out(t)·x0, as a consistency model expects. The conditional and unconditional
predictions go through one batched call when both prompts have the same length; guidance 1 has no
unconditional pass. `Guidance` then combines them (CFG, sharpness, adaptive CFG) with progress
1 − t/999.

SDXL size conditioning follows Fooocus's ADM scaling: while t > 999·(1 − adm.end), the positive and
negative "original size" are the output size × their scalers (truncated to whole pixels); afterwards
both use the plain size. The target size is the output size rounded to a multiple of 64, crop (0, 0).

A `Denoiser` holds one `ModelPass` per model; `pass_for` picks the one in use (with a refiner in `joint`
mode, refiner.JointDenoiser hands over inside the same sampler run). For inpainting a pass may carry a
`KnownRegion` (the latent outside the mask is held to the original around every evaluation) and `extra`
input channels (an inpainting UNet's mask and masked-image latent, appended to its input unscaled);
with Fooocus's inpaint engine, an `input_feature` added to the output of the UNet's first convolution
(`conv_in`) at every call, and `before`, which puts the pass's weights on the UNet before each evaluation
(the engine's patched base and its synthetic refiner share one UNet); with control prompts, `control`,
whose ControlNet residuals (image_prompts/residuals.py) the UNet adds to its skip connections.
With IP-Adapter prompts, `image_prompts` gives the context of each call in which the UNet's cross-attention
also reads the prompts' image tokens (which rows are conditional, and the call's timestep, decide).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import torch

from inference_worker.diffusers_kernel.conditioning.prompts import Conditioning
from inference_worker.diffusers_kernel.conditioning.schedule import ScheduledConditioning
from inference_worker.diffusers_kernel.sampling.guidance import Guidance
from inference_worker.diffusers_kernel.sampling.known_region import KnownRegion
from inference_worker.diffusers_kernel.sampling.sigmas import ModelSigmas

LAST_TIMESTEP = 999.0
_SIGMA_DATA, _TIMESTEP_SCALING = 0.5, 10.0


def round_to_64(value: float) -> int:
    return int(round(value / 64.0)) * 64


@dataclass
class SizeConditioning:
    width: int
    height: int
    positive: float = 1.0
    negative: float = 1.0
    end: float = 0.0

    def scaled_until(self) -> float:
        """ADM-scaled sizes apply while the timestep is above this."""
        return LAST_TIMESTEP * (1.0 - self.end)

    def time_ids(self, scale: float | None) -> list[float]:
        """None: the plain conditioning; else the original size scaled by `scale`."""
        th, tw = round_to_64(self.height), round_to_64(self.width)
        if scale is None:
            return [th, tw, 0.0, 0.0, th, tw]
        return [int(self.height * scale), int(self.width * scale), 0.0, 0.0, th, tw]


@dataclass
class ModelPass:
    """One model's prediction: its UNet, noise table, prompts and size conditioning."""

    unet: object
    sigmas: ModelSigmas
    cond: Conditioning
    uncond: Conditioning | None
    size: SizeConditioning | None = None
    boundary: bool = False
    prediction: str = "epsilon"  # or v_prediction
    known: KnownRegion | None = None  # inpainting: what stays the original outside the mask
    extra: torch.Tensor | None = None  # channels appended to the UNet's input (a 9-channel inpainting UNet)
    input_feature: torch.Tensor | None = None  # added to conv_in's output (the inpaint engine's head)
    before: Callable[[], None] | None = None  # makes the UNet's weights this pass's, before each evaluation
    # (x_in, t, sigma, embeds, added conditioning) → extra UNet arguments (ControlNet residuals) or None
    control: Callable[..., dict | None] | None = None
    # IP-Adapter prompts: (rows, timestep) → a context in which the UNet's cross-attention reads their image
    # tokens (rows: True for a conditional batch row), image_prompts/ip_prompts.py
    image_prompts: Callable[[list[bool], float], AbstractContextManager] | None = None
    # sigma → the UNet's timestep when it is the fractional one (`unet_timestep: interpolated`); None: the nearest
    # whole timestep, as Fooocus conditions it
    timestep_of: Callable[[float], torch.Tensor] | None = None
    # A prompt schedule (AUTOMATIC1111's prompt editing) in this model's form: the prompts of each evaluation
    schedule: ScheduledConditioning | None = None

    def __post_init__(self) -> None:
        self.dtype = self.unet.dtype
        self.device = self.unet.device
        self.use_prompts(self.cond, self.uncond)
        self.evaluations = 0

    def use_prompts(self, cond: Conditioning, uncond: Conditioning | None) -> None:
        """The prompts of the next evaluations (a prompt schedule changes them between evaluations)."""
        self.cond, self.uncond = cond, uncond
        self.batched = uncond is not None and uncond.embeds.shape[1] == cond.embeds.shape[1]

    def _added(self, conds: list[Conditioning], scales: list[float | None]) -> dict | None:
        if self.size is None:
            return None
        ids = torch.tensor([self.size.time_ids(s) for s in scales], device=self.device, dtype=self.dtype)
        pooled = torch.cat([c.pooled for c in conds]).to(self.device, self.dtype)
        return {"text_embeds": pooled, "time_ids": ids}

    def _x0(self, x, x_in, sigma, t, conds, scales) -> torch.Tensor:
        embeds = torch.cat([c.embeds for c in conds]).to(self.device, self.dtype)
        self.evaluations += 1
        added = self._added(conds, scales)
        residuals = self.control(x_in, t, sigma, embeds, added) if self.control is not None else None
        if self.extra is not None:
            x_in = torch.cat([x_in, self.extra.to(x_in).expand(x_in.shape[0], -1, -1, -1)], dim=1)
        hook = None
        if self.input_feature is not None:
            feature = self.input_feature.to(self.device, self.dtype)
            hook = self.unet.conv_in.register_forward_hook(lambda _m, _args, out: out + feature)
        rows = [c is self.cond for c in conds]
        acting = self.image_prompts(rows, float(t)) if self.image_prompts is not None else nullcontext()
        try:
            with acting:
                out = self.unet(
                    x_in.to(self.dtype), t, encoder_hidden_states=embeds,
                    added_cond_kwargs=added, return_dict=False, **(residuals or {}),
                )[0].float()  # fmt: skip
        finally:
            if hook is not None:
                hook.remove()
        if self.prediction == "v_prediction":
            return (x_in[:, : out.shape[1]] - out * sigma) / (sigma**2 + 1) ** 0.5
        return x - out * sigma

    def predict(self, x: torch.Tensor, sigma: float) -> tuple[torch.Tensor, torch.Tensor | None, float]:
        """(positive x0, negative x0 or None, timestep)."""
        if self.before is not None:
            self.before()
        timestep_of = self.timestep_of or self.sigmas.unet_timestep
        t = timestep_of(sigma).to(self.device, torch.float32).reshape(())
        timestep = float(t)
        x_in = x / (sigma**2 + 1) ** 0.5
        scaled = self.size is not None and timestep > self.size.scaled_until()
        pos_scale = self.size.positive if scaled else None
        neg_scale = self.size.negative if scaled else None
        if self.uncond is None:
            pos, neg = self._x0(x, x_in, sigma, t, [self.cond], [pos_scale]), None
        elif self.batched:
            both = self._x0(
                torch.cat([x, x]),
                torch.cat([x_in, x_in]),
                sigma,
                t,
                [self.cond, self.uncond],
                [pos_scale, neg_scale],
            )
            pos, neg = both.chunk(2)
        else:
            pos = self._x0(x, x_in, sigma, t, [self.cond], [pos_scale])
            neg = self._x0(x, x_in, sigma, t, [self.uncond], [neg_scale])
        if self.boundary:
            pos, neg = (
                self._boundary(pos, x_in, timestep),
                (self._boundary(neg, x_in, timestep) if neg is not None else None),
            )
        return pos, neg, timestep

    @staticmethod
    def _boundary(x0: torch.Tensor, x_in: torch.Tensor, timestep: float) -> torch.Tensor:
        scaled = timestep * _TIMESTEP_SCALING
        c_skip = _SIGMA_DATA**2 / (scaled**2 + _SIGMA_DATA**2)
        c_out = scaled / (scaled**2 + _SIGMA_DATA**2) ** 0.5
        return c_out * x0 + c_skip * x_in


class Denoiser:
    """denoise(x, sigma, step) → guided x0; the pass in use is chosen by step (joint refiner).

    With a prompt schedule on the pass in use the prompts follow the count of this denoiser's calls, not the
    sampler's step: AUTOMATIC1111 counts a step per model evaluation (twice a step for Heun, DPM2, …; its
    schedule for those samplers spans twice the steps), so a schedule made by its rules switches where it
    switches there; a joint refiner's evaluations continue the count, as A1111's refiner continues it."""

    def __init__(self, passes: list[ModelPass], guidance: Guidance) -> None:
        self.passes = passes
        self.guidance = guidance
        self.calls = 0
        self.last_eps: torch.Tensor | None = None  # (x − x0)/sigma of the latest call
        self.last_step = -1

    def pass_for(self, step: int) -> ModelPass:
        return self.passes[0]

    @property
    def model_sigmas(self) -> ModelSigmas:
        return self.pass_for(max(self.last_step, 0)).sigmas

    @property
    def evaluations(self) -> int:
        return sum(p.evaluations for p in self.passes)

    @torch.no_grad()
    def __call__(self, x: torch.Tensor, sigma: float, step: int) -> torch.Tensor:
        self.last_step = step
        model = self.pass_for(step)
        if model.schedule is not None:
            model.use_prompts(*model.schedule.at(self.calls))
        self.calls += 1
        if model.known is not None:
            x = model.known.noised(x, sigma)
        pos, neg, timestep = model.predict(x, sigma)
        progress = min(1.0, max(0.0, 1.0 - timestep / LAST_TIMESTEP))
        x0 = self.guidance.combine(x, pos, neg, progress)
        if model.known is not None:
            x0 = model.known.keep(x0)
        self.last_eps = (x - x0) / sigma
        return x0
