"""Hires fix's second pass on the tiny SDXL, against AUTOMATIC1111's rules worked out independently here:
the upscalers' closed forms, the second pass's UNet calls and levels (a numpy Karras schedule and timestep
lookup of the model's betas, written from the formulas, not from the kernel), the fresh noise of the seed
at the final size, and the progress that counts both passes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from contract.hires import HiresFix, HiresUpscaler
from inference_worker.diffusers_kernel import hires
from inference_worker.diffusers_kernel.image_input import vae_io
from inference_worker.kernel import KernelError, check_image_method
from tests.inference_worker.diffusers_kernel.fidelity_models import run
from tests.inference_worker.diffusers_kernel.image_input.image_files import output, recording

LATENT_UPSCALERS = [u for u in HiresUpscaler if u.in_latent_space]


def _fix(**kw) -> HiresFix:
    base = dict(width=128, height=128, upscaled_width=128, upscaled_height=128, upscaler=HiresUpscaler.latent,
                steps=2, denoise=0.5)
    return HiresFix(**{**base, **kw})


def _hires(**kw) -> dict:
    base = dict(width=128, height=128, upscaled_width=128, upscaled_height=128, upscaler="Latent (nearest)",
                steps=2, denoise=0.5)
    return {**base, **kw}


# ----- the model's noise levels, from the betas of its scheduler config (scaled_linear 0.00085 … 0.012) --------

BETAS = np.linspace(0.00085**0.5, 0.012**0.5, 1000, dtype=np.float64) ** 2
ALPHAS_BAR = np.cumprod(1.0 - BETAS)
SIGMAS = np.sqrt((1.0 - ALPHAS_BAR) / ALPHAS_BAR)


def karras(n: int, rho: float = 7.0) -> np.ndarray:
    """Karras et al. (2022), eq. 5: n levels from sigma_max down to sigma_min, then 0."""
    ramp = np.linspace(0.0, 1.0, n)
    lo, hi = SIGMAS[0] ** (1 / rho), SIGMAS[-1] ** (1 / rho)
    return np.append((hi + ramp * (lo - hi)) ** rho, 0.0)


def timestep(sigma: float) -> float:
    """The training step whose sigma is nearest in log space (what the UNet is conditioned on)."""
    return float(np.abs(np.log(SIGMAS) - np.log(sigma)).argmin())


@pytest.fixture(scope="module")
def warm(kernel, make):
    run(kernel, make())
    return kernel


@pytest.fixture
def latents(monkeypatch):
    """The latents the decoder is handed (the first pass's, for a pixel upscaler, then the image's)."""
    seen: dict = {"decoded": [], "encoded_pixels": []}
    encode, decode = vae_io.encode, vae_io.decode

    def enc(vae, pixels, **kw):
        seen["encoded_pixels"].append(np.array(pixels))
        return encode(vae, pixels, **kw)

    def dec(vae, lat, **kw):
        seen["decoded"].append(lat.clone())
        return decode(vae, lat, **kw)

    monkeypatch.setattr(vae_io, "encode", enc)
    monkeypatch.setattr(vae_io, "decode", dec)
    return seen


# ----- upscalers: closed forms ----------------------------------------------------------------------------


@pytest.mark.parametrize("upscaler", LATENT_UPSCALERS)
def test_a_latent_upscale_of_a_constant_latent_stays_that_constant(upscaler):
    flat = torch.full((1, 4, 8, 8), 0.37)
    big = hires.upscale_latent(flat, _fix(upscaler=upscaler, width=144, height=200, upscaled_width=144,
                                           upscaled_height=200))
    assert big.shape == (1, 4, 25, 18)
    assert torch.allclose(big, flat[:, :, :1, :1].expand_as(big), atol=1e-6)


@pytest.mark.parametrize("upscaler", [HiresUpscaler.latent_nearest, HiresUpscaler.latent_nearest_exact])
def test_nearest_at_a_whole_scale_turns_each_cell_into_a_block(upscaler):
    board = torch.from_numpy(np.indices((6, 6)).sum(0) % 2 * 2.0 - 1.0).float()[None, None].repeat(1, 4, 1, 1)
    big = hires.upscale_latent(board, _fix(upscaler=upscaler, width=144, height=144, upscaled_width=144,
                                            upscaled_height=144))
    blocks = np.kron(board[0, 0].numpy(), np.ones((3, 3)))  # each cell a 3×3 block
    assert big.shape == (1, 4, 18, 18) and np.array_equal(big[0, 0].numpy(), blocks)


def test_bilinear_keeps_a_ramp_a_ramp():
    # Along a linear ramp, bilinear interpolation (align_corners false) is the ramp sampled at the new cell
    # centres: x_out = (i + 0.5) / 2 − 0.5, clamped at the edges.
    ramp = torch.arange(8, dtype=torch.float32).repeat(8, 1)[None, None]
    big = hires.upscale_latent(ramp, _fix(width=128, height=128, upscaled_width=128, upscaled_height=128))
    expected = np.clip((np.arange(16) + 0.5) / 2 - 0.5, 0, 7)
    assert np.allclose(big[0, 0, 3].numpy(), expected, atol=1e-6)


def test_nearest_pixels_repeat_then_lanczos_only_when_the_scale_is_not_whole():
    picture = Image.fromarray((np.random.default_rng(1).random((8, 8, 3)) * 255).astype(np.uint8))
    whole = hires.resize_picture(picture, _fix(upscaler=HiresUpscaler.nearest, width=64, height=64,
                                               upscaled_width=64, upscaled_height=64))
    assert np.array_equal(np.asarray(whole), np.kron(np.asarray(picture), np.ones((8, 8, 1))).astype(np.uint8))
    lanczos = hires.resize_picture(picture, _fix(upscaler=HiresUpscaler.lanczos, width=64, height=64,
                                                 upscaled_width=64, upscaled_height=64))
    assert np.array_equal(np.asarray(lanczos), np.asarray(picture.resize((64, 64), Image.Resampling.LANCZOS)))


# ----- the second pass on the tiny SDXL --------------------------------------------------------------------


@pytest.mark.parametrize(("steps", "hr_steps", "denoise"), [(3, 2, 0.5), (2, 3, 0.7), (3, 0, 1.0)])
def test_the_second_pass_makes_its_steps_on_the_tail_of_a_longer_karras_schedule(warm, make, steps, hr_steps,
                                                                                  denoise):
    # A1111 hands the pass its steps: `int(steps / denoise)` levels, sampled from `steps` from the end.
    hr = hr_steps or steps
    task = make(steps=steps, hires=_hires(steps=hr, denoise=denoise))
    with recording(warm) as calls:
        result = run(warm, task)
    first, second = calls.timesteps[:steps], calls.timesteps[steps:]
    assert calls.shapes == [(2, 4, 8, 8)] * steps + [(2, 4, 16, 16)] * hr  # euler: one call a step, cfg batched
    assert first == [timestep(s) for s in karras(steps)[:-1]]
    tail = karras(int(hr / denoise))[-(hr + 1) : -1]
    assert second == [timestep(s) for s in tail]
    assert output(result).shape == (128, 128, 3)


def test_a_zero_unet_leaves_the_upscaled_first_pass_plus_the_seeds_fresh_noise(warm, make, latents):
    # A UNet predicting no noise leaves euler's latent where it starts. The first pass starts (and so ends)
    # at unit noise × √(1 + σ_max²); the second at that latent, upscaled (nearest: 2×2 blocks) and cut
    # to 128×96 about its centre (2 cells off the top), plus a fresh draw of the seed at the final size × the
    # tail's first level.
    task = make(steps=3, seeds=[9], hires=_hires(height=96, upscaled_height=128, steps=2, denoise=0.5))
    with recording(warm, zero=True):
        result = run(warm, task)
    assert output(result).shape == (96, 128, 3)
    first = torch.randn((1, 4, 8, 8), generator=torch.Generator().manual_seed(9)).numpy()
    first *= np.sqrt(1 + SIGMAS[-1] ** 2)
    fresh = torch.randn((1, 4, 12, 16), generator=torch.Generator().manual_seed(9)).numpy()
    upscaled = np.kron(first, np.ones((1, 1, 2, 2)))[:, :, 2:14, :]
    expected = upscaled + fresh * karras(4)[-3]
    assert np.allclose(latents["decoded"][-1].numpy(), expected, atol=1e-4)


def test_a_pixel_upscaler_resizes_the_decoded_first_pass_with_lanczos(warm, make, latents):
    task = make(steps=2, hires=_hires(upscaler="Lanczos", steps=1, denoise=0.4))
    run(warm, task)
    first_picture = vae_io.decode(warm._models.base.pipe.vae, latents["decoded"][0])
    assert latents["decoded"][0].shape == (1, 4, 8, 8) and latents["decoded"][1].shape == (1, 4, 16, 16)
    reference = np.asarray(first_picture.resize((128, 128), Image.Resampling.LANCZOS))
    assert np.array_equal(latents["encoded_pixels"][-1], reference)


def test_progress_counts_both_passes(warm, make):
    notes: list = []
    run(warm, make(steps=3, preview={"enabled": False}, hires=_hires(steps=2)), notes)
    sampled = [(n.step, n.steps_total) for n in notes if n.stage.value == "sampling"]
    assert {total for _, total in sampled} == {5}
    assert [step for step, _ in sampled if step] == sorted(step for step, _ in sampled if step)
    assert max(step for step, _ in sampled) == 5


def test_hires_with_a_refiner_is_refused_naming_the_field(warm, make, tiny_models):
    task = make(hires=_hires(), refiner={"name": "r", "path": tiny_models.sdxl_file})
    with pytest.raises(KernelError) as err:
        warm.check(task)
    assert err.value.field == "hires"


def test_a_kernel_that_does_not_declare_hires_refuses_it(make):
    class TextOnly:
        name = "text-only"

    with pytest.raises(KernelError) as err:
        check_image_method(TextOnly(), make(hires=_hires()))
    assert err.value.field == "hires" and err.value.kind.value == "unsupported"
