"""Vary and Upscale on the tiny SDXL: Fooocus's partial denoise (the task's steps, the tail of a longer
schedule, noise at the first level of that tail) and Upscale's sizes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from inference_worker.diffusers_kernel.image_input import vae_io
from inference_worker.diffusers_kernel.image_input.img2img import schedule_tail
from inference_worker.diffusers_kernel.sampling.sigmas import ModelSigmas, karras
from inference_worker.model_builders.small_pipelines import SCHEDULER_CONFIG
from tests.inference_worker.diffusers_kernel.fidelity_models import run
from tests.inference_worker.diffusers_kernel.image_input.image_files import (
    image_file,
    noise_image,
    output,
    recording,
)

TABLE = ModelSigmas(SCHEDULER_CONFIG)


def _smooth(width: int, height: int) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    img = np.stack([x * 255 // width, y * 255 // height, 255 - x * 128 // width], -1).astype(np.uint8)
    img[height // 4 : height * 3 // 4, width // 4 : width * 3 // 4] = (250, 30, 30)
    return img


@pytest.fixture(scope="module")
def warm(kernel, make):
    run(kernel, make())  # loads the tiny SDXL, so its UNet can be watched
    return kernel


@pytest.fixture
def latents(monkeypatch):
    """The latent the VAE encodes the input to and the one the sampler hands to the decoder."""
    seen: dict = {}
    encode, decode = vae_io.encode, vae_io.decode

    def enc(*args, **kw):
        seen["encoded"] = encode(*args, **kw)
        return seen["encoded"]

    def dec(vae, lat, **kw):
        seen["final"] = lat.clone()
        return decode(vae, lat, **kw)

    monkeypatch.setattr(vae_io, "encode", enc)
    monkeypatch.setattr(vae_io, "decode", dec)
    return seen


def test_the_tail_of_a_longer_schedule_by_hand():
    # 2 steps at denoise 0.5: the 4-step Karras schedule (rho 7), its last 3 levels
    lo, hi = TABLE.sigma_min ** (1 / 7), TABLE.sigma_max ** (1 / 7)
    by_hand = [(hi + 2 / 3 * (lo - hi)) ** 7, TABLE.sigma_min, 0.0]
    tail = schedule_tail(lambda n: karras(TABLE, n), 2, 0.5)
    assert tail.tolist() == pytest.approx(by_hand, rel=1e-9)
    # int(steps / denoise) steps, truncated: 3 / 0.7 = 4.28 → 4
    assert schedule_tail(lambda n: karras(TABLE, n), 3, 0.7).tolist() == karras(TABLE, 4)[-4:].tolist()
    assert schedule_tail(lambda n: karras(TABLE, n), 3, 1.0).tolist() == karras(TABLE, 3).tolist()


@pytest.mark.parametrize(("steps", "denoise"), [(4, 0.5), (3, 0.85)])
def test_vary_runs_exactly_the_steps_of_the_tail(warm, make, steps, denoise):
    img = image_file(_smooth(64, 64))
    task = make(steps=steps, image_input={"method": "vary", "image": img, "denoise": denoise})
    with recording(warm) as calls:
        run(warm, task)
    assert len(calls.timesteps) == steps  # euler, prompt and negative batched: one UNet call a step
    expected = karras(TABLE, int(steps / denoise))[-(steps + 1) : -1]
    assert calls.timesteps == [float(TABLE.unet_timestep(s)) for s in expected]


def test_vary_starts_at_the_tails_first_level_without_the_full_denoise_factor(warm, make, latents):
    # A UNet predicting zero noise leaves euler's latent where it starts: the encoded image plus the
    # seed's unit noise × the first level of the tail (ComfyUI's scaling below the top level: σ, not √(1+σ²)).
    task = make(
        steps=4,
        seeds=[5],
        image_input={"method": "vary", "image": image_file(_smooth(64, 64)), "denoise": 0.5},
    )
    with recording(warm, zero=True):
        run(warm, task)
    lo, hi = TABLE.sigma_min ** (1 / 7), TABLE.sigma_max ** (1 / 7)
    sigma0 = (hi + 4 / 7 * (lo - hi)) ** 7  # level 4 of the 8-step Karras schedule
    unit = torch.randn((1, 4, 8, 8), generator=torch.Generator().manual_seed(5))
    assert torch.allclose(latents["final"] - latents["encoded"], unit * sigma0, atol=1e-4)


def test_vary_keeps_more_of_the_input_at_lower_denoise(warm, make, latents):
    # The tiny VAE is random, so the comparison is in latent space: the sampled latent's coarse
    # structure (2×2 means) against the encoded input's, over three seeds.
    img = image_file(_smooth(64, 64))

    def kept(denoise: float) -> float:
        total = 0.0
        for seed in (3, 4, 5):
            run(
                warm,
                make(steps=4, seeds=[seed], image_input={"method": "vary", "image": img, "denoise": denoise}),
            )
            coarse = [torch.nn.functional.avg_pool2d(latents[k], 2).ravel() for k in ("final", "encoded")]
            total += float(torch.corrcoef(torch.stack(coarse))[0, 1])
        return total / 3

    assert kept(0.5) > kept(0.85) + 0.03


def test_upscale_without_denoise_is_a_lanczos_resize_and_no_diffusion(warm, make):
    src = noise_image(40, 30)
    task = make(width=101, height=77, image_input={"method": "upscale", "image": image_file(src)})
    with recording(warm) as calls:
        out = output(run(warm, task))
    assert calls.shapes == []
    reference = np.asarray(Image.fromarray(src).resize((101, 77), Image.Resampling.LANCZOS))
    assert out.shape == (77, 101, 3) and np.array_equal(out, reference)


def test_upscale_with_denoise_samples_at_ceil_8_and_crops_to_the_exact_size(warm, make):
    task = make(width=101, height=77, steps=3,
                image_input={"method": "upscale", "image": image_file(noise_image(40, 30)), "denoise": 0.4})  # fmt: skip
    with recording(warm) as calls:
        result = run(warm, task)
    assert output(result).shape == (77, 101, 3)
    assert calls.shapes == [(2, 4, 80 // 8, 104 // 8)] * 3  # 104×80, prompt + negative batched
