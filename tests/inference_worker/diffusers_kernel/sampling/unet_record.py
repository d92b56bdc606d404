"""What the base UNet of a kernel's run sees and answers, for step-by-step checks against a reference scheduler."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from inference_worker.diffusers_kernel.image_input import vae_io
from inference_worker.diffusers_kernel.sampling.noise import NoiseSource
from tests.inference_worker.diffusers_kernel.fidelity_models import run


@dataclass
class UnetRecord:
    inputs: list[torch.Tensor] = field(default_factory=list)  # the latent of each call (the UNet's input)
    timesteps: list[float] = field(default_factory=list)  # the timestep of each call
    outputs: list[torch.Tensor] = field(default_factory=list)  # the prediction of each call
    decoded: list[torch.Tensor] = field(default_factory=list)  # the latent handed to the VAE
    result: object = None  # the kernel's result


def record_unet(kernel, task, monkeypatch) -> UnetRecord:
    """Run `task` twice (the first loads the model, so the hooks land on the UNet that runs) and record the
    second run."""
    run(kernel, task)
    unet = kernel._models.base.pipe.unet
    seen = UnetRecord()

    def before(_module, args, _kwargs):
        seen.inputs.append(args[0].detach().clone())
        seen.timesteps.append(float(args[1]))

    def after(_module, _args, _kwargs, out):
        seen.outputs.append(out[0].detach().float().clone())

    decode = vae_io.decode

    def recording_decode(vae, latents, tiled=False):
        seen.decoded.append(latents.detach().clone())
        return decode(vae, latents, tiled)

    monkeypatch.setattr(vae_io, "decode", recording_decode)
    hooks = [unet.register_forward_pre_hook(before, with_kwargs=True),
             unet.register_forward_hook(after, with_kwargs=True)]
    try:
        seen.result = run(kernel, task)
    finally:
        for hook in hooks:
            hook.remove()
    return seen


def record_noise_draws(monkeypatch) -> list[torch.Tensor]:
    """Every fresh noise draw a sampler makes from now on (`NoiseSource.__call__`), in order."""
    draws: list[torch.Tensor] = []
    draw = NoiseSource.__call__

    def recording(self, like):
        draws.append(draw(self, like).detach().clone())
        return draws[-1]

    monkeypatch.setattr(NoiseSource, "__call__", recording)
    return draws
