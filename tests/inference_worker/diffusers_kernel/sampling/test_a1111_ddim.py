"""AUTOMATIC1111's DDIM (the `a1111_ddim` scheduler with the `ddim` sampler at eta 0, `euler_ancestral` at eta 1)
against diffusers' DDIMScheduler.

A1111 1.10 (modules/sd_samplers_timesteps*.py) evaluates the model at the timesteps 1 + k·i below 1000
(k = 1000 // steps, clipped to 999) but the lowest, stepping each to the next lower one with the DDIM update,
from unit noise, and decodes the latent it reaches at timestep 1. Its update at eta 0 is diffusers'
`DDIMScheduler.step` configured as A1111's model (scaled_linear 0.00085…0.012, steps_offset 1, "leading",
set_alpha_to_one False): that step goes from t to t − k, the next A1111 timestep. The reference runs that
scheduler on the UNet inputs and outputs recorded in the kernel's run of the tiny SDXL model.
"""

from __future__ import annotations

import pytest
import torch

from contract.events import FailureKind, Stage
from inference_worker.diffusers_kernel.sampling.noise import NoiseSource
from inference_worker.diffusers_kernel.sampling.sigmas import ModelSigmas, schedule
from inference_worker.kernel import KernelError
from orchestrator.jobs.store import Normalized
from tests.inference_worker.diffusers_kernel.fidelity_models import run
from tests.inference_worker.diffusers_kernel.sampling.unet_record import record_noise_draws, record_unet

CONFIG = {"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear"}
# The model timesteps A1111's DDIM runs, read off its get_timesteps and ddim loop by hand.
A1111_TIMESTEPS = {
    3: [999, 667, 334],  # 1 + 3·333 = 1000 is clipped to 999
    4: [751, 501, 251],
    7: [995, 853, 711, 569, 427, 285, 143],  # 1000 % 7 ≠ 0: eight levels, seven model steps
    20: list(range(951, 50, -50)),
}


def _diffusers_ddim(steps: int):
    from diffusers import DDIMScheduler

    scheduler = DDIMScheduler(
        num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
        steps_offset=1, timestep_spacing="leading", set_alpha_to_one=False, clip_sample=False,
    )  # fmt: skip
    scheduler.set_timesteps(steps)
    return scheduler


@pytest.mark.parametrize("steps", sorted(A1111_TIMESTEPS))
def test_the_levels_are_a1111s_timesteps_ending_at_timestep_one(steps):
    ms = ModelSigmas(CONFIG)
    sig = schedule("a1111_ddim", ms, steps)
    timesteps = [int(ms.unet_timestep(float(s))) for s in sig]
    assert timesteps == A1111_TIMESTEPS[steps] + [1]
    assert float(sig[-1]) > 0  # no step to zero: A1111 stops at timestep 1


@pytest.mark.parametrize("steps", [4, 20])
def test_where_1000_is_a_multiple_of_steps_a1111_drops_diffusers_last_step(steps):
    assert _diffusers_ddim(steps).timesteps.tolist()[:-1] == A1111_TIMESTEPS[steps]


def test_otherwise_a1111_starts_one_stride_higher():
    assert A1111_TIMESTEPS[7] == [995] + _diffusers_ddim(7).timesteps.tolist()[:-1]


def _record(kernel, task, monkeypatch):
    """(UNet inputs, UNet timesteps, UNet outputs, the latent handed to the VAE, the result) of one image."""
    seen = record_unet(kernel, task, monkeypatch)
    return seen.inputs, [int(t) for t in seen.timesteps], seen.outputs, seen.decoded[0], seen.result


@pytest.mark.parametrize("steps", [4, 7, 20])
def test_the_kernel_follows_diffusers_ddim_step_by_step(kernel, make, monkeypatch, steps):
    task = make(sampler="ddim", scheduler="a1111_ddim", steps=steps, guidance_scale=1.0, seeds=[5])
    inputs, timesteps, eps, final, result = _record(kernel, task, monkeypatch)
    assert timesteps == A1111_TIMESTEPS[steps]
    # A1111 starts from unit noise as it is (the variance-preserving latent the UNet reads).
    start = NoiseSource(5).start(tuple(inputs[0].shape), 1.0)
    torch.testing.assert_close(inputs[0], start, rtol=1e-5, atol=1e-5)
    reference = _diffusers_ddim(steps)
    x = inputs[0].double()
    for i, t in enumerate(timesteps):
        x = reference.step(eps[i].double(), t, x, eta=0.0).prev_sample
        if i + 1 < len(inputs):  # each step lands where the next UNet input is
            torch.testing.assert_close(inputs[i + 1].double(), x, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(final.double(), x, rtol=1e-4, atol=1e-4)  # decoded at timestep 1, A1111's scale


@pytest.mark.parametrize("steps", [4, 7, 20])  # not 3: A1111 clips its top timestep (999 → 667), diffusers does not
def test_at_eta_one_the_ancestral_step_is_diffusers_ddim_with_the_same_noise(kernel, make, monkeypatch, steps):
    """A1111's DDIM at eta 1 (webuiapi's default) is `euler_ancestral` on `a1111_ddim`: each step, from the kernel's
    own latent, lands where diffusers' `DDIMScheduler.step(eta=1)` lands given the unit noise the kernel drew."""
    draws = record_noise_draws(monkeypatch)
    task = make(sampler="euler_ancestral", scheduler="a1111_ddim", steps=steps, guidance_scale=1.0, seeds=[6])
    inputs, timesteps, eps, final, _ = _record(kernel, task, monkeypatch)
    assert timesteps == A1111_TIMESTEPS[steps]
    noise = draws[-len(timesteps):]  # one fresh draw a step, down to timestep 1 (the second run's)
    assert len(draws) == 2 * len(timesteps)
    reference = _diffusers_ddim(steps)
    landed = [*inputs[1:], final]
    for i, t in enumerate(timesteps):
        x, z = inputs[i].double(), noise[i].double()
        expected = reference.step(eps[i].double(), t, x, eta=1.0, variance_noise=z).prev_sample
        deterministic = reference.step(eps[i].double(), t, x, eta=1.0, variance_noise=torch.zeros_like(z))
        torch.testing.assert_close(landed[i].double(), expected, rtol=1e-4, atol=1e-4)
        # the noise is a real part of the step (so eta 0's step would not pass), scaled as diffusers scales it
        assert (expected - deterministic.prev_sample).abs().max() > 1e-2


@pytest.mark.parametrize("steps", [4, 7])
def test_progress_counts_the_model_steps_on_both_sides(kernel, make, steps):
    """A1111's DDIM at 4 steps makes 3 model steps (1000 is a multiple of 4), at 7 it makes 7: the worker's
    progress counts those calls, and the orchestrator's count for a finished job is the same."""
    task = make(sampler="ddim", scheduler="a1111_ddim", steps=steps, guidance_scale=1.0, seeds=[5])
    notes = []
    run(kernel, task, notes)
    model_steps = len(A1111_TIMESTEPS[steps])
    sampling = [p.step for p in notes if p.stage is Stage.sampling and p.step > 0]  # 0: the stage's start
    assert sampling == list(range(1, model_steps + 1))
    assert {p.steps_total for p in notes} == {model_steps}
    assert Normalized(tasks=[task], images=[]).steps_of(0) == model_steps


@pytest.mark.parametrize(("change", "field", "kind"), [
    ({"sampler": "dpmpp_2m"}, "scheduler", FailureKind.unsupported),
    ({"steps": 1}, "steps", FailureKind.bad_request),
    ({"hires": {"width": 128, "height": 128, "upscaled_width": 128, "upscaled_height": 128,
                "upscaler": "Latent (nearest)", "steps": 2, "denoise": 0.5}}, "hires", FailureKind.unsupported),
])
def test_what_a1111_ddim_does_not_run_is_refused_by_name(kernel, make, change, field, kind):
    with pytest.raises(KernelError) as exc:
        kernel.check(make(**{"sampler": "ddim", "scheduler": "a1111_ddim", **change}))
    assert exc.value.field == field and exc.value.kind is kind
