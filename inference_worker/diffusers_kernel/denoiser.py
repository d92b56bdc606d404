"""The model as a denoiser: x (at noise level sigma) → estimate of the clean latent x0, with guidance.

An epsilon-prediction UNet sees x / sqrt(sigma² + 1) at the training timestep of sigma; x0 = x − sigma·eps.
Classifier-free guidance mixes the conditional and unconditional predictions (one batched call when both
prompts have the same length; guidance 1 skips the unconditional pass). SDXL's size conditioning follows
Fooocus's ADM scaling: the positive and negative "original size" are the output size times their
scalers until `adm.end` of the steps, then the plain output size.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from inference_worker.diffusers_kernel.prompts import Conditioning
from inference_worker.diffusers_kernel.sigmas import ModelSigmas


@dataclass
class SizeConditioning:
    width: int
    height: int
    positive: float = 1.0
    negative: float = 1.0
    end: float = 0.0

    def time_ids(self, scale: float) -> list[float]:
        return [self.height * scale, self.width * scale, 0.0, 0.0, float(self.height), float(self.width)]


class Denoiser:
    def __init__(
        self,
        unet,
        sigmas: ModelSigmas,
        cond: Conditioning,
        uncond: Conditioning | None,
        guidance: float,
        size: SizeConditioning | None,
        steps: int,
    ) -> None:
        self.unet = unet
        self.sigmas = sigmas
        self.cond = cond
        self.uncond = uncond if guidance != 1.0 else None
        self.guidance = guidance
        self.size = size
        self.steps = steps
        self.dtype = unet.dtype
        self.device = unet.device
        self.batched = self.uncond is not None and self.uncond.embeds.shape[1] == cond.embeds.shape[1]
        self.evaluations = 0

    def _added(self, conds: list[Conditioning], scales: list[float]) -> dict | None:
        if self.size is None:
            return None
        ids = torch.tensor([self.size.time_ids(s) for s in scales], device=self.device, dtype=self.dtype)
        pooled = torch.cat([c.pooled for c in conds]).to(self.device, self.dtype)
        return {"text_embeds": pooled, "time_ids": ids}

    def _scales(self, step: int) -> tuple[float, float]:
        if self.size is not None and step < self.size.end * self.steps:
            return self.size.positive, self.size.negative
        return 1.0, 1.0

    def _eps(
        self, x_in: torch.Tensor, t: torch.Tensor, conds: list[Conditioning], scales: list[float]
    ) -> torch.Tensor:
        embeds = torch.cat([c.embeds for c in conds]).to(self.device, self.dtype)
        self.evaluations += 1
        out = self.unet(
            x_in.to(self.dtype),
            t,
            encoder_hidden_states=embeds,
            added_cond_kwargs=self._added(conds, scales),
            return_dict=False,
        )[0]
        return out.float()

    @torch.no_grad()
    def __call__(self, x: torch.Tensor, sigma: float, step: int) -> torch.Tensor:
        x_in = x / (sigma**2 + 1) ** 0.5
        t = self.sigmas.timestep(sigma).to(self.device, torch.float32).reshape(())
        pos_scale, neg_scale = self._scales(step)
        if self.uncond is None:
            eps = self._eps(x_in, t, [self.cond], [pos_scale])
        elif self.batched:
            both = self._eps(torch.cat([x_in, x_in]), t, [self.cond, self.uncond], [pos_scale, neg_scale])
            eps_c, eps_u = both.chunk(2)
            eps = eps_u + self.guidance * (eps_c - eps_u)
        else:
            eps_c = self._eps(x_in, t, [self.cond], [pos_scale])
            eps_u = self._eps(x_in, t, [self.uncond], [neg_scale])
            eps = eps_u + self.guidance * (eps_c - eps_u)
        return x - eps * sigma
