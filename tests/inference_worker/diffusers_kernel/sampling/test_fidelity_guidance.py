"""Sharpness (anisotropic guidance), adaptive CFG, guidance 1 without a negative pass, ADM timing."""

from __future__ import annotations

import pytest
import torch

from contract.task import AdmScalers
from inference_worker.diffusers_kernel.sampling.denoiser import SizeConditioning
from inference_worker.diffusers_kernel.sampling.guidance import Guidance, anisotropic_filter, joint_bilateral
from tests.inference_worker.diffusers_kernel.fidelity_models import pixels, run


def _laplacian_energy(x: torch.Tensor) -> float:
    lap = 4 * x[..., 1:-1, 1:-1] - x[..., :-2, 1:-1] - x[..., 2:, 1:-1] - x[..., 1:-1, :-2] - x[..., 1:-1, 2:]
    return float((lap**2).mean())


def test_bilateral_blurs_flat_regions_but_not_across_edges():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(1, 4, 32, 32, generator=gen)
    flat = torch.zeros(1, 4, 32, 32)
    assert _laplacian_energy(joint_bilateral(x, flat)) < 0.05 * _laplacian_energy(x)
    # A guide with a hard edge: the left half's output must not borrow from the right half.
    guide = torch.zeros(1, 4, 32, 32)
    guide[..., 16:] = 100.0
    x_edge = torch.zeros(1, 4, 32, 32)
    x_edge[..., 16:] = 1.0
    out = joint_bilateral(x_edge, guide)
    assert float(out[..., :16].abs().max()) < 1e-6 and float((out[..., 16:] - 1).abs().max()) < 1e-6


def test_anisotropic_filter_ignores_the_guides_scale():
    gen = torch.Generator().manual_seed(1)
    x, g = torch.randn(1, 4, 16, 16, generator=gen), torch.randn(1, 4, 16, 16, generator=gen)
    assert torch.allclose(anisotropic_filter(x, g), anisotropic_filter(x, 10 * g + 3), atol=1e-5)


def _case():
    gen = torch.Generator().manual_seed(2)
    return [torch.randn(1, 4, 16, 16, generator=gen) for _ in range(3)]


def test_neutral_guidance_is_plain_cfg():
    x, pos, neg = _case()
    plain = neg + 5.0 * (pos - neg)
    for g in (Guidance(5.0, sharpness=0.0, adaptive=7.0), Guidance(5.0, sharpness=0.0, adaptive=5.0)):
        for progress in (0.0, 0.5, 1.0):
            assert torch.allclose(g.combine(x, pos, neg, progress), plain, atol=1e-5)
    assert torch.equal(Guidance(1.0, sharpness=30.0, adaptive=1.0).combine(x, pos, None, 0.7), pos)


def test_sharpness_grows_with_progress_and_smooths_the_positive_noise():
    x, pos, neg = _case()
    g = Guidance(4.0, sharpness=30.0)
    assert torch.allclose(g.combine(x, pos, neg, 0.0), Guidance(4.0).combine(x, pos, neg, 0.0), atol=1e-5)
    soft, full = g.combine(x, pos, neg, 0.5), g.combine(x, pos, neg, 1.0)
    plain = Guidance(4.0).combine(x, pos, neg, 1.0)
    # eps = x − x0: the guided noise estimate loses fine detail as the weight 0.001·30·progress grows.
    energies = [_laplacian_energy(x - y) for y in (plain, soft, full)]
    assert energies[0] > energies[1] > energies[2]


def test_adaptive_cfg_mimics_the_lower_scale_early_and_the_real_one_late():
    x, pos, neg = _case()
    g = Guidance(12.0, adaptive=7.0)
    assert torch.allclose(g.combine(x, pos, neg, 0.0), Guidance(7.0).combine(x, pos, neg, 0.0), atol=1e-5)
    assert torch.allclose(
        g.combine(x, pos, neg, 1.0), Guidance(12.0, adaptive=30).combine(x, pos, neg, 1.0), atol=1e-5
    )
    mid = g.combine(x, pos, neg, 0.25)
    expected = 0.25 * Guidance(12.0, adaptive=30).combine(x, pos, neg, 0) + 0.75 * Guidance(7.0).combine(
        x, pos, neg, 0
    )
    assert torch.allclose(mid, expected, atol=1e-5)


def test_adm_scaled_sizes_until_the_end_timestep():
    size = SizeConditioning(width=1152, height=896, positive=1.5, negative=0.8, end=0.3)
    assert size.scaled_until() == pytest.approx(999 * 0.7)
    assert size.time_ids(1.5) == [1344, 1728, 0.0, 0.0, 896, 1152]
    assert size.time_ids(0.8) == [716, 921, 0.0, 0.0, 896, 1152]
    assert size.time_ids(None) == [896, 1152, 0.0, 0.0, 896, 1152]
    assert SizeConditioning(width=1000, height=700).time_ids(None) == [704, 1024, 0.0, 0.0, 704, 1024]


# ----- through the kernel --------------------------------------------------------------------------


def test_sharpness_and_adaptive_cfg_change_the_image_and_their_neutral_values_do_not(kernel, make):
    ref = pixels(kernel, make())
    assert pixels(kernel, make(sharpness=2.0)) != ref
    assert pixels(kernel, make(sharpness=2.0)) != pixels(kernel, make(sharpness=20.0))
    assert pixels(kernel, make(guidance_scale=9.0, adaptive_cfg=3.0)) != pixels(
        kernel, make(guidance_scale=9.0)
    )
    assert pixels(kernel, make(adaptive_cfg=4.0)) == pixels(kernel, make(adaptive_cfg=30.0))  # scale 4 ≤ both


def test_guidance_one_skips_the_negative_pass(kernel, make):
    one = make(guidance_scale=1.0, sharpness=10.0, adaptive_cfg=1.0)
    run(kernel, one)
    assert kernel._prepared.base.uncond is None and kernel._prepared.base.evaluations == one.steps
    # Nothing about the negative side matters any more: its prompt, sharpness or adaptive CFG.
    assert pixels(kernel, one) == pixels(kernel, make(guidance_scale=1.0, negative=["anything else"]))
    two = make(guidance_scale=4.0)
    run(kernel, two)
    assert kernel._prepared.base.evaluations == two.steps  # both prompts in one batched call per step


def test_adm_end_follows_the_timestep(kernel, make):
    seen: list[list[list[float]]] = []
    task = make(adm=AdmScalers(positive=1.5, negative=0.8, end=0.3), steps=8)
    run(kernel, make())  # make sure the model is resident
    unet = kernel._models.base.pipe.unet
    hook = unet.register_forward_pre_hook(
        lambda m, args, kwargs: seen.append(kwargs["added_cond_kwargs"]["time_ids"].tolist()),
        with_kwargs=True,
    )
    try:
        run(kernel, task)
    finally:
        hook.remove()
    table = kernel._prepared.base.sigmas
    sig = kernel._schedule(task, table, "sdxl")
    scaled = [round(float(table.timestep(float(s)))) > 999 * 0.7 for s in sig[:-1]]  # the UNet's whole t
    assert 0 < sum(scaled) < len(scaled)
    for ids, is_scaled in zip(seen, scaled, strict=True):
        assert ids == (
            [[96, 96, 0, 0, 64, 64], [51, 51, 0, 0, 64, 64]] if is_scaled else [[64, 64, 0, 0, 64, 64]] * 2
        )
