"""The tcd sampler against two references we did not derive from its code.

1. diffusers' `TCDScheduler` (Zheng et al.'s own sampler, the one Fooocus's follows), stepped on the same
   whole timesteps with the same noise draws, in its variance-preserving frame.
2. A hand computation in numpy from the training betas: each step lands on timestep
   floor(0.7 · t(σ_next)) and the DDPM forward process q(x_next | x_s) carries it up to σ_next — on a
   schedule whose levels fall between the table's entries, where the next level's timestep is the
   nearest one the model knows.
Both compare the whole trajectory: the latent handed to the model at every step, and the result.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from diffusers import TCDScheduler

from inference_worker.diffusers_kernel.sampling.samplers import SAMPLERS
from inference_worker.diffusers_kernel.sampling.sigmas import DistilledSigmas, ModelSigmas, schedule

CONFIG = {"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear"}
SHAPE = (1, 4, 8, 8)


class Recording:
    """A denoiser that records the latent it is handed at each level."""

    def __init__(self, table: ModelSigmas, x0) -> None:
        self.model_sigmas = table
        self.x0 = x0  # callable (x, sigma) → x0 estimate
        self.seen: list[tuple[torch.Tensor, float]] = []

    def __call__(self, x, sigma, step):
        self.seen.append((x.clone(), sigma))
        return self.x0(x, sigma)


def _replay(noises):
    draws = iter(noises)
    return lambda like: next(draws)


def test_tcd_follows_diffusers_tcd_scheduler_step_by_step():
    table = DistilledSigmas(CONFIG)
    sig = schedule("tcd", table, 7)  # 7 steps: every level is one of the distilled table's own
    timesteps = [int(table.timestep(float(s))) for s in sig[:-1]]
    assert timesteps == [999, 859, 719, 579, 439, 299, 159]
    start = torch.randn(SHAPE, generator=torch.Generator().manual_seed(0)) * float(sig[0])

    # The ideal denoiser of N(0, 1) data: x0 = x / (1 + σ²); as eps in the VP frame, sample·sqrt(1 − ᾱ).
    model = Recording(table, lambda x, s: x / (1 + s * s))
    ours = torch.Generator().manual_seed(7)  # both draw their fresh noise from a CPU generator seeded 7
    noise = lambda like: torch.randn(like.shape, generator=ours, dtype=like.dtype)  # noqa: E731
    out = SAMPLERS["tcd"](model, start.clone(), sig, noise, lambda i, x0: None)

    ref = TCDScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear")
    ref.set_timesteps(timesteps=timesteps)
    theirs = torch.Generator().manual_seed(7)
    sample = start / (1 + float(sig[0]) ** 2) ** 0.5
    for i, t in enumerate(ref.timesteps):
        x, s = model.seen[i]
        torch.testing.assert_close(x / (1 + s * s) ** 0.5, sample, rtol=1e-5, atol=1e-5)
        eps = sample * (1 - ref.alphas_cumprod[t]).sqrt()
        sample = ref.step(eps, t, sample, eta=0.3, generator=theirs).prev_sample
    torch.testing.assert_close(out, sample, rtol=1e-5, atol=1e-5)


def _numpy_tables(distilled: bool):
    betas = np.linspace(0.00085**0.5, 0.012**0.5, 1000, dtype=np.float64) ** 2
    alphas_cumprod = np.cumprod(1 - betas)
    sigmas = np.sqrt((1 - alphas_cumprod) / alphas_cumprod)
    known = np.arange(19, 1000, 20) if distilled else np.arange(1000)  # the timesteps the model knows
    return alphas_cumprod, sigmas, known


@pytest.mark.parametrize(("sched", "steps", "distilled"), [("tcd", 8, True), ("karras", 6, False)])
def test_tcd_trajectory_matches_a_hand_computation(sched, steps, distilled):
    table = DistilledSigmas(CONFIG) if distilled else ModelSigmas(CONFIG)
    sig = schedule(sched, table, steps)
    levels = [float(s) for s in sig]
    gen = torch.Generator().manual_seed(11)
    target = torch.randn(SHAPE, generator=gen, dtype=torch.float64)  # the model always predicts this x0
    noises = [torch.randn(SHAPE, generator=gen, dtype=torch.float64) for _ in range(steps - 1)]
    start = torch.randn(SHAPE, generator=gen, dtype=torch.float64) * levels[0]

    model = Recording(table, lambda x, s: target)
    out = SAMPLERS["tcd"](model, start.clone(), sig, _replay(noises), lambda i, x0: None)

    abar, table_sigmas, known = _numpy_tables(distilled)
    x0, x = target.numpy(), start.numpy()
    expected = [x]
    for i in range(steps):
        eps = (x - x0) / levels[i]
        nxt = levels[i + 1]
        if nxt > 0:
            t_next = known[np.argmin(np.abs(np.log(nxt) - np.log(table_sigmas[known])))]
            landing = (7 * int(t_next)) // 10  # floor(0.7 · t) in whole numbers
        else:
            landing = 0
        x_s = np.sqrt(abar[landing]) * x0 + np.sqrt(1 - abar[landing]) * eps  # VP latent at the landing
        if nxt > 0:
            abar_next = 1 / (1 + nxt * nxt)  # the VP frame of level σ_next
            ratio = abar_next / abar[landing]
            x_vp = np.sqrt(ratio) * x_s + np.sqrt(1 - ratio) * noises[i].numpy()  # q(x_next | x_s)
            x = x_vp / np.sqrt(abar_next)
        else:
            x = x_s
        expected.append(x)
    for i, (seen, _) in enumerate(model.seen):
        np.testing.assert_allclose(seen.numpy(), expected[i], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(out.numpy(), expected[-1], rtol=1e-9, atol=1e-9)
