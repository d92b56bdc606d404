"""AUTOMATIC1111's PLMS (the `plms` sampler, on the `a1111_ddim` scheduler: A1111's DDIM timesteps) against
diffusers' PNDMScheduler.

A1111 1.10 (modules/sd_samplers_timesteps_impl.py `plms`) runs latent diffusion's PLMS on the DDIM timesteps
1 + k·i below 1000 (k = 1000 // steps): the model at each but the lowest, plus once more at the second-highest on
the first step (which averages the eps at both ends of an Euler/DDIM step), then Adams–Bashforth blends of the
last 2, 3 and 4 eps estimates, stopping at timestep 1. diffusers' `PNDMScheduler` with `skip_prk_steps` is the
same method: configured as A1111's model ("leading" spacing, steps_offset 1) it calls the model on the same
points in the same order, plus a last call at timestep 1 that A1111 does not make. The reference runs that
scheduler on the UNet inputs and outputs recorded in the kernel's run of the tiny SDXL model.
"""

from __future__ import annotations

import pytest
import torch

from contract.events import FailureKind, Stage
from inference_worker.diffusers_kernel.sampling.noise import NoiseSource
from inference_worker.kernel import KernelError
from orchestrator.jobs.store import Normalized
from tests.inference_worker.diffusers_kernel.fidelity_models import run
from tests.inference_worker.diffusers_kernel.sampling.test_a1111_unipc import _record


def _diffusers_plms(steps: int):
    from diffusers import PNDMScheduler

    scheduler = PNDMScheduler(
        num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
        skip_prk_steps=True, steps_offset=1, timestep_spacing="leading", set_alpha_to_one=False,
    )  # fmt: skip
    scheduler.set_timesteps(steps)
    return scheduler


@pytest.mark.parametrize("steps", [4, 20])  # where 1000 is a multiple of steps: A1111's timesteps are diffusers'
def test_the_kernel_follows_diffusers_plms_step_by_step(kernel, make, monkeypatch, steps):
    task = make(sampler="plms", scheduler="a1111_ddim", steps=steps, guidance_scale=1.0, seeds=[5])
    inputs, timesteps, eps, final = _record(kernel, task, monkeypatch)
    reference = _diffusers_plms(steps)
    calls = reference.timesteps.tolist()
    assert calls[1] == calls[2]  # the first step's second call, at the next timestep
    assert timesteps == calls[:-1]  # every call of diffusers' but its last, at timestep 1
    start = NoiseSource(5).start(tuple(inputs[0].shape), 1.0)  # unit noise, as A1111 starts
    torch.testing.assert_close(inputs[0], start, rtol=1e-5, atol=1e-5)
    x = inputs[0].double()
    for i, t in enumerate(calls[:-1]):
        torch.testing.assert_close(inputs[i].double(), x, rtol=1e-4, atol=1e-4)  # the UNet read the reference's x
        x = reference.step(eps[i].double(), t, x).prev_sample
    torch.testing.assert_close(final.double(), x, rtol=1e-4, atol=1e-4)  # the latent at timestep 1


def test_not_the_ddim_update():
    """What the check above rules out: after the first step PLMS does not take DDIM's step on the newest eps."""
    from diffusers import DDIMScheduler

    torch.manual_seed(0)
    x, eps = torch.randn(1, 4, 8, 8, dtype=torch.float64), [torch.randn(1, 4, 8, 8, dtype=torch.float64)
                                                            for _ in range(3)]
    plms = _diffusers_plms(20)
    for i in range(3):
        out = plms.step(eps[i], plms.timesteps[i], x).prev_sample
    ddim = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1,
                         set_alpha_to_one=False)
    ddim.set_timesteps(20)
    assert not torch.allclose(out, ddim.step(eps[2], 901, x).prev_sample, atol=1e-3)


@pytest.mark.parametrize(("steps", "model_steps"), [(4, 3), (7, 7)])
def test_progress_counts_a1111s_steps(kernel, make, steps, model_steps):
    """One progress step per A1111 loop step (its first step's second model call is inside it)."""
    task = make(sampler="plms", scheduler="a1111_ddim", steps=steps, guidance_scale=1.0, seeds=[5])
    notes = []
    run(kernel, task, notes)
    sampling = [p.step for p in notes if p.stage is Stage.sampling and p.step > 0]
    assert sampling == list(range(1, model_steps + 1))
    assert Normalized(tasks=[task], images=[]).steps_of(0) == model_steps


@pytest.mark.parametrize(("change", "field"), [
    ({"scheduler": "karras"}, "sampler"),  # its weights assume A1111's evenly spaced timesteps
    ({"refiner": {"name": "r", "path": "/nowhere"}}, "refiner"),
])
def test_what_plms_does_not_run_is_refused_by_name(kernel, make, change, field):
    with pytest.raises(KernelError) as exc:
        kernel.check(make(**{"sampler": "plms", "scheduler": "a1111_ddim", **change}))
    assert exc.value.field == field and exc.value.kind is FailureKind.unsupported
