"""The noise of an image is AUTOMATIC1111's with its `randn_source` option at CPU (modules/rng.py, 1.10): a CPU
`torch.Generator` seeded with the image's seed, whose first draw of shape (4, H/8, W/8) is the starting noise
(`ImageRNG.first`, then `randn` with that generator) and whose next draws are the samplers' fresh noise
(`ImageRNG.next`, `randn_without_seed` on the same generator). The reference below draws them as A1111 does."""

from __future__ import annotations

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
