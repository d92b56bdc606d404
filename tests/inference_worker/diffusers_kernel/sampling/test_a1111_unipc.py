"""AUTOMATIC1111's UniPC (the `a1111_unipc` scheduler with the `uni_pc` sampler) and the fractional UNet timesteps
(`unet_timestep: interpolated`) every A1111 sampler runs with, against diffusers.

A1111 1.10 (modules/sd_samplers_timesteps_impl.py `unipc`, modules/models/diffusion/uni_pc) runs UniPC with
`steps` = the count of its DDIM timesteps (⌈1000 / (1000 // steps)⌉), its default options (variant bh1, order 3,
lower order at the end, skip type time_uniform): times evenly from 1 to 1/1000 in the discrete noise schedule
whose log α = ½ log ᾱ is piecewise linear between the training timesteps t_n = (n + 1) / 1000, the model called
at (t − 1/1000)·1000, from unit noise, returning the latent at the last time (no denoising to zero). The update
is diffusers' `UniPCMultistepScheduler` with the same options, which the kernel's run is checked against step by
step on the UNet inputs and outputs recorded in its run of the tiny SDXL model.

With its `enable_quantization` option off (the default) A1111's k-diffusion samplers call the UNet at each level's
fractional timestep, log σ interpolated between the training timesteps, as diffusers' Karras schedules do.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from contract.a1111_timesteps import a1111_timesteps
from contract.events import FailureKind, Stage
from inference_worker.diffusers_kernel.sampling.noise import NoiseSource
from inference_worker.diffusers_kernel.sampling.sigmas import ModelSigmas, schedule
from inference_worker.kernel import KernelError
from orchestrator.jobs.store import Normalized
from tests.inference_worker.diffusers_kernel.fidelity_models import run
from tests.inference_worker.diffusers_kernel.sampling.unet_record import record_unet

CONFIG = {"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear"}
BETAS = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear")  # noqa: C408


def _a1111_levels(steps: int) -> tuple[np.ndarray, np.ndarray]:
    """(model timesteps, σ) of A1111's UniPC, from its noise schedule's definition (numpy, float64)."""
    betas = np.linspace(0.00085**0.5, 0.012**0.5, 1000) ** 2
    log_alpha = 0.5 * np.log(np.cumprod(1 - betas))
    count = len(range(0, 1000, 1000 // steps))  # A1111's get_timesteps, then steps=len(timesteps)
    times = np.linspace(1.0, 1 / 1000, count + 1)
    grid = np.arange(1, 1001) / 1000  # t_n = (n + 1) / N
    alpha = np.exp(np.interp(times, grid, log_alpha))
    return (times - 1 / 1000) * 1000, np.sqrt(1 - alpha**2) / alpha


@pytest.mark.parametrize(("steps", "count"), [(3, 4), (4, 4), (7, 8), (20, 20)])
def test_the_levels_are_a1111s_unipc_times(steps, count):
    ms = ModelSigmas(CONFIG)
    sig = schedule("a1111_unipc", ms, steps)
    times, sigmas = _a1111_levels(steps)
    assert len(sig) == count + 1 == a1111_timesteps(steps) + 1
    np.testing.assert_allclose(sig.numpy(), sigmas, rtol=1e-9)
    np.testing.assert_allclose(ms.vp_timestep(sig).numpy(), times, atol=1e-6)  # read back as A1111's model times
    assert float(sig[-1]) == pytest.approx(float(ms.table[0]))  # ends at timestep 0's level, not at zero


def _diffusers_unipc(sigmas: torch.Tensor):
    from diffusers import UniPCMultistepScheduler

    scheduler = UniPCMultistepScheduler(**BETAS, solver_order=3, solver_type="bh1", lower_order_final=True,
                                        predict_x0=True, final_sigmas_type="sigma_min")
    scheduler.set_timesteps(len(sigmas) - 1)
    # A1111's levels in place of diffusers' own: its update reads σ only; the timesteps are labels for the steps.
    scheduler.sigmas = sigmas.double()
    scheduler.timesteps = torch.arange(len(sigmas) - 1, 0, -1)
    return scheduler


def _record(kernel, task, monkeypatch):
    """(UNet inputs, UNet timesteps as floats, UNet outputs, the latent handed to the VAE) of one image."""
    seen = record_unet(kernel, task, monkeypatch)
    return seen.inputs, seen.timesteps, seen.outputs, seen.decoded[0]


@pytest.mark.parametrize("steps", [4, 7, 20])
def test_the_kernel_follows_diffusers_unipc_step_by_step(kernel, make, monkeypatch, steps):
    task = make(sampler="uni_pc", scheduler="a1111_unipc", unet_timestep="interpolated", steps=steps,
                guidance_scale=1.0, seeds=[5])
    inputs, timesteps, eps, final = _record(kernel, task, monkeypatch)
    times, sigmas = _a1111_levels(steps)
    # one model call per time but the last, at A1111's fractional model times
    np.testing.assert_allclose(timesteps, times[:-1], atol=2e-3)
    start = NoiseSource(5).start(tuple(inputs[0].shape), 1.0)  # unit noise, as A1111 starts
    torch.testing.assert_close(inputs[0], start, rtol=1e-5, atol=1e-5)
    reference = _diffusers_unipc(torch.from_numpy(sigmas))
    x = inputs[0].double()
    for i in range(len(timesteps)):
        torch.testing.assert_close(inputs[i].double(), x, rtol=1e-4, atol=1e-4)  # the UNet read the reference's x
        x = reference.step(eps[i].double(), reference.timesteps[i], x).prev_sample
    torch.testing.assert_close(final.double(), x, rtol=1e-4, atol=1e-4)  # the latent at timestep 0's level


def test_at_20_steps_diffusers_own_unipc_runs_other_levels():
    """What the check above rules out: diffusers' UniPC on its own levels (rounded timesteps, ending at zero) is
    not A1111's."""
    from diffusers import UniPCMultistepScheduler

    scheduler = UniPCMultistepScheduler(**BETAS, solver_order=3, solver_type="bh1")
    scheduler.set_timesteps(20)
    _, sigmas = _a1111_levels(20)
    assert not np.allclose(scheduler.sigmas.numpy(), sigmas, rtol=1e-3)


def test_interpolated_timesteps_are_diffusers_karras_timesteps(kernel, make, monkeypatch):
    """On Karras levels (between training timesteps) the UNet reads diffusers' fractional timesteps when asked,
    and the nearest whole ones by default (Fooocus)."""
    from diffusers import EulerDiscreteScheduler

    reference = EulerDiscreteScheduler(**BETAS, use_karras_sigmas=True)
    reference.set_timesteps(8)
    expected = reference.timesteps.double().numpy()
    assert np.abs(expected - expected.round()).max() > 0.1  # the levels really lie between timesteps
    _, interpolated, _, _ = _record(kernel, make(steps=8, unet_timestep="interpolated"), monkeypatch)
    _, nearest, _, _ = _record(kernel, make(steps=8), monkeypatch)
    per_call = 2  # the conditional and unconditional rows go as separate calls when the prompts' lengths differ
    calls = len(interpolated) // len(expected)
    assert calls in (1, per_call)
    np.testing.assert_allclose(interpolated[::calls], expected, atol=2e-3)
    np.testing.assert_array_equal(nearest[::calls], np.rint(expected).clip(0, 999))


@pytest.mark.parametrize("steps", [4, 7])
def test_progress_counts_the_model_steps_on_both_sides(kernel, make, steps):
    task = make(sampler="uni_pc", scheduler="a1111_unipc", steps=steps, guidance_scale=1.0, seeds=[5])
    notes = []
    run(kernel, task, notes)
    model_steps = a1111_timesteps(steps)
    sampling = [p.step for p in notes if p.stage is Stage.sampling and p.step > 0]
    assert sampling == list(range(1, model_steps + 1))
    assert {p.steps_total for p in notes} == {model_steps}
    assert Normalized(tasks=[task], images=[]).steps_of(0) == model_steps


@pytest.mark.parametrize(("change", "field", "kind"), [
    ({"sampler": "uni_pc_bh2"}, "scheduler", FailureKind.unsupported),
    ({"steps": 2}, "steps", FailureKind.bad_request),  # A1111's UniPC of order 3 fails below 3 times
    ({"refiner": {"name": "r", "path": "/nowhere"}}, "refiner", FailureKind.unsupported),
])
def test_what_a1111_unipc_does_not_run_is_refused_by_name(kernel, make, change, field, kind):
    with pytest.raises(KernelError) as exc:
        kernel.check(make(**{"sampler": "uni_pc", "scheduler": "a1111_unipc", **change}))
    assert exc.value.field == field and exc.value.kind is kind
