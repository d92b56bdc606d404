"""The noise of an image is AUTOMATIC1111's with its `randn_source` option at CPU (modules/rng.py, 1.10): a CPU
`torch.Generator` seeded with the image's seed, whose first draw of shape (4, H/8, W/8) is the starting noise
(`ImageRNG.first`, then `randn` with that generator) and whose next draws are the samplers' fresh noise
(`ImageRNG.next`, `randn_without_seed` on the same generator); a variation seed (subseed) turns the starting
noise towards its own first draw by `rng.slerp`. The reference below draws and blends them as A1111 does."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.inference_worker.diffusers_kernel.sampling.unet_record import record_noise_draws, record_unet


def _a1111_cpu_draws(seed: int, shape: tuple[int, ...], count: int) -> list[torch.Tensor]:
    generator = torch.Generator("cpu").manual_seed(int(seed))  # rng.create_generator with randn_source CPU
    return [torch.randn(shape, device="cpu", generator=generator) for _ in range(count)]


def test_start_and_fresh_noise_are_a1111s_cpu_draws(kernel, make, monkeypatch):
    draws = record_noise_draws(monkeypatch)
    task = make(sampler="euler_ancestral", scheduler="normal", steps=3, guidance_scale=1.0, seeds=[11])
    seen = record_unet(kernel, task, monkeypatch)
    shape = tuple(seen.inputs[0].shape[1:])
    reference = _a1111_cpu_draws(11, shape, 1 + 2)  # the start, then one fresh draw a step but the last
    # From the model's highest level the UNet's first input x / sqrt(1 + σ²) is the unit noise itself.
    torch.testing.assert_close(seen.inputs[0][0], reference[0], rtol=1e-6, atol=1e-6)
    fresh = draws[-2:]  # the second run's (the first run loads the model)
    for mine, theirs in zip(fresh, reference[1:], strict=True):
        assert torch.equal(mine[0], theirs)


def _a1111_slerp(strength: float, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """rng.slerp of A1111 1.10 on one image's (4, H, W) noise, in numpy: norms and dot products over axis 1."""
    low_unit = low / np.linalg.norm(low, axis=1, keepdims=True)
    high_unit = high / np.linalg.norm(high, axis=1, keepdims=True)
    dot = (low_unit * high_unit).sum(axis=1)
    omega = np.arccos(dot)
    so = np.sin(omega)
    return (np.sin((1 - strength) * omega) / so)[:, None] * low + (np.sin(strength * omega) / so)[:, None] * high


@pytest.mark.parametrize("strength", [0.3, 1.0])
def test_a_variation_seed_turns_the_start_noise_as_a1111_does(kernel, make, monkeypatch, strength):
    """ImageRNG.first with subseed_strength: the seed's draw slerped towards the subseed's first draw (at 1, the
    subseed's noise itself); ImageRNG.next: the fresh noise is still the seed's generator's next draws."""
    draws = record_noise_draws(monkeypatch)
    task = make(sampler="euler_ancestral", scheduler="normal", steps=3, guidance_scale=1.0, seeds=[11],
                variation={"seeds": [21], "strength": strength})
    seen = record_unet(kernel, task, monkeypatch)
    shape = tuple(seen.inputs[0].shape[1:])
    mine = _a1111_cpu_draws(11, shape, 3)
    other = _a1111_cpu_draws(21, shape, 1)[0]
    expected = _a1111_slerp(strength, mine[0].double().numpy(), other.double().numpy())
    np.testing.assert_allclose(seen.inputs[0][0].double().numpy(), expected, rtol=1e-4, atol=1e-5)
    if strength == 1.0:
        torch.testing.assert_close(seen.inputs[0][0], other, rtol=1e-5, atol=1e-5)
    for drawn, theirs in zip(draws[-2:], mine[1:], strict=True):
        assert torch.equal(drawn[0], theirs)
