"""Start noise, UniPC's levels and the fast modes' schedules against Fooocus, worked out here with numpy.

The reference noise table is built from the model's own scheduler config (sigma_t = sqrt((1 − ᾱ_t) / ᾱ_t),
betas linear in sqrt for `scaled_linear`), and each schedule from Fooocus's recipe for it
(ldm_patched/modules/samplers.py, modules/sample_hijack.py, modules/async_worker.py), in float64 numpy:
nothing here calls the kernel's schedule code. What the kernel really did is read off the sampler it ran:
the start latent and schedule it was handed and the levels its model was evaluated at.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from contract.task import ModelRef
from inference_worker.diffusers_kernel.sampling import samplers as samplers_module
from inference_worker.diffusers_kernel.sampling.unipc import sample_unipc
from tests.inference_worker.diffusers_kernel.fidelity_models import (
    build_fidelity_files,
    run,
)

SEED = 3
LATENT = (1, 4, 8, 8)  # the 64×64 test images


def numpy_table(config) -> np.ndarray:
    n = int(config["num_train_timesteps"])
    start, end = float(config["beta_start"]), float(config["beta_end"])
    assert config["beta_schedule"] == "scaled_linear"
    betas = np.linspace(start**0.5, end**0.5, n, dtype=np.float64) ** 2
    alphas_cumprod = np.cumprod(1.0 - betas)
    return np.sqrt((1.0 - alphas_cumprod) / alphas_cumprod)


def at(table: np.ndarray, index: float) -> float:
    """The table at a fractional index, interpolated in log-sigma (ModelSamplingDiscrete.sigma)."""
    lo, hi = int(np.floor(index)), int(np.ceil(index))
    w = index - lo
    return float(np.exp((1 - w) * np.log(table[lo]) + w * np.log(table[hi])))


def karras(points: int, sigma_min: float, sigma_max: float, rho: float = 7.0) -> list[float]:
    ramp = np.linspace(0.0, 1.0, points)
    return list((sigma_max ** (1 / rho) + ramp * (sigma_min ** (1 / rho) - sigma_max ** (1 / rho))) ** rho)


def unit_noise(seed: int) -> torch.Tensor:
    """The starting noise as Fooocus draws it (ldm_patched prepare_noise: a CPU generator seeded by the seed)."""
    return torch.randn(LATENT, generator=torch.Generator("cpu").manual_seed(seed))


def model_table(kernel) -> np.ndarray:
    return numpy_table(dict(kernel._models.base.pipe.scheduler.config))


class _Recording:
    """Passes every call on to the kernel's denoiser and notes the level it was asked about."""

    def __init__(self, inner, levels: list[float]) -> None:
        self._inner, self._levels = inner, levels

    def __call__(self, x, sigma, step):
        self._levels.append(float(sigma))
        return self._inner(x, sigma, step)

    def __getattr__(self, name):
        return getattr(self._inner, name)


@pytest.fixture
def recorded(monkeypatch):
    """record(name) → list of sampler runs: start latent, schedule, levels evaluated, result."""
    runs: list[SimpleNamespace] = []

    def record(name: str) -> list[SimpleNamespace]:
        inner = samplers_module.SAMPLERS[name]

        def sampler(denoise, x, sigmas, noise, on_step):
            levels: list[float] = []
            out = inner(_Recording(denoise, levels), x, sigmas, noise, on_step)
            runs.append(
                SimpleNamespace(
                    x=x.detach().cpu().clone(),
                    sigmas=[float(v) for v in sigmas],
                    levels=levels,
                    out=out.detach().cpu().clone(),
                )
            )
            return out

        monkeypatch.setitem(samplers_module.SAMPLERS, name, sampler)
        return runs

    return record


def _unet_inputs(kernel, task) -> list[tuple[torch.Tensor, float]]:
    """(latent input, timestep) of every base UNet call of one image."""
    run(kernel, task)  # loads the model
    seen: list[tuple[torch.Tensor, float]] = []
    hook = kernel._models.base.pipe.unet.register_forward_pre_hook(
        lambda m, args: seen.append((args[0].detach().cpu().clone(), float(args[1])))
    )
    try:
        run(kernel, task)
    finally:
        hook.remove()
    return seen


# ----- the starting latent ---------------------------------------------------------------------------


def test_a_full_strength_start_is_noise_times_sqrt_one_plus_sigma_max_squared(kernel, make, recorded):
    runs = recorded("euler")
    seen = _unet_inputs(kernel, make(seeds=[SEED]))
    sigma_max = float(model_table(kernel)[-1])
    noise = unit_noise(SEED)
    start = runs[-1].x
    assert runs[-1].sigmas[0] == pytest.approx(sigma_max, rel=1e-6)
    assert torch.allclose(start, noise * (1.0 + sigma_max**2) ** 0.5, rtol=1e-5, atol=1e-5)
    # So the model's first input, x / sqrt(1 + sigma²), is exactly the unit noise: pure noise at t = 999.
    first_input = seen[0][0][:1]
    assert torch.allclose(first_input, noise, atol=1e-5)


def test_a_start_below_sigma_max_is_noise_times_its_level(kernel, make, recorded):
    # ddim_uniform for 4 steps (Fooocus's ddim_scheduler) starts at table[751], below the top level.
    runs = recorded("euler")
    run(kernel, make(scheduler="ddim_uniform", seeds=[SEED]))
    first = float(model_table(kernel)[751])
    assert runs[-1].sigmas[0] == pytest.approx(first, rel=1e-6)
    assert torch.allclose(runs[-1].x, unit_noise(SEED) * first, rtol=1e-5, atol=1e-6)


def test_a_vae_swap_renoised_above_sigma_max_starts_like_a_full_strength_latent(
    kernel, make, recorded, tiny_models
):
    # 14 karras steps, switch round(1.4) = 1: the refiner restarts at 1.4 × sigma_1, above sigma_max, so
    # Fooocus scales its fresh noise (seed + 1, re-centred per pixel on the base's last noise estimate) by
    # sqrt(1 + level²) rather than by the level.
    runs = recorded("euler")
    refiner = ModelRef(name="tiny-refiner", path=build_fidelity_files(tiny_models).refiner_file)
    task = make(refiner=refiner, refiner_swap_method="vae", refiner_switch=0.1, steps=14, seeds=[SEED])
    run(kernel, task)
    table = model_table(kernel)
    level = 1.4 * karras(14, table[0], table[-1])[1]
    assert level > table[-1]
    head, tail = runs[-2], runs[-1]
    assert tail.sigmas[0] == pytest.approx(level, rel=1e-5)
    added = (tail.x - head.out) / (1.0 + level**2) ** 0.5
    fresh = unit_noise(SEED + 1)
    # What is left after taking out the fresh noise's own variation is the same in every channel.
    rest = added - (fresh - fresh.mean(dim=1, keepdim=True))
    assert float((rest - rest.mean(dim=1, keepdim=True)).abs().max()) < 1e-4


# ----- UniPC -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["uni_pc", "uni_pc_bh2"])
def test_uni_pc_steps_through_fooocus_levels(kernel, make, recorded, name):
    # Fooocus's KSampler gives uni_pc one more karras level and drops the last non-zero one.
    runs = recorded(name)
    run(kernel, make(sampler=name, steps=5))
    table = model_table(kernel)
    longer = karras(6, table[0], table[-1])
    expected = longer[:5] + [0.0]
    assert runs[-1].sigmas == pytest.approx(expected, rel=1e-6)
    assert runs[-1].levels == pytest.approx(expected[:-1], rel=1e-6)


def test_uni_pc_ends_at_a_fixed_thousandth():
    # With an estimate that never changes, every UniPC step is x_t − c = (sigma_t / sigma_s)(x_s − c),
    # whatever its order: the level the run ends at can be read off its result.
    c = torch.full((1, 4, 2, 2), 0.25, dtype=torch.float64)
    start = torch.randn((1, 4, 2, 2), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    sigmas = torch.tensor([2.0, 0.5, 0.0015, 0.0], dtype=torch.float64)
    levels: list[float] = []

    def denoise(x, sigma, step):
        levels.append(float(sigma))
        return c.clone()

    out = sample_unipc(denoise, start * 2.0, sigmas, lambda i, x0: None)
    end = 2.0 * (out - c) / (start * 2.0 - c)
    assert levels == [2.0, 0.5, 0.0015]
    assert torch.allclose(end, torch.full_like(end, 1e-3), rtol=1e-9)


def test_uni_pc_refuses_a_last_level_below_its_end():
    with pytest.raises(ValueError, match="0.001"):
        sample_unipc(
            lambda x, s, i: x, torch.ones(1, 4, 2, 2), torch.tensor([1.0, 0.0005, 0.0]), lambda i, x: None
        )


# ----- the fast performance modes -----------------------------------------------------------------------

# Fooocus's own table (modules/flags.py, async_worker.py set_*_defaults): steps, sampler, scheduler, LoRA.
FOOOCUS_FAST_MODES = {
    "Extreme Speed": (8, "lcm", "lcm", "sdxl_lcm_lora.safetensors", 1.0),
    "Lightning": (4, "euler", "sgm_uniform", "sdxl_lightning_4step_lora.safetensors", 1.0),
    "Hyper-SD": (4, "dpmpp_sde_gpu", "karras", "sdxl_hyper_sd_4step_lora.safetensors", 0.8),
}
FAST_FORCED = {"guidance_scale": 1.0, "sharpness": 0.0, "adaptive_cfg": 1.0}


def test_the_orchestrator_forces_fooocus_fast_modes():
    from orchestrator.catalog.tables import FAST_MODE_FORCED, PERFORMANCE

    table = {m.name: (m.steps, m.sampler, m.scheduler, m.lora, m.lora_weight) for m in PERFORMANCE.values()}
    assert {k: v for k, v in table.items() if v[3]} == FOOOCUS_FAST_MODES
    assert FAST_MODE_FORCED == {
        "guidance_scale": 1.0, "image_sharpness": 0.0, "adaptive_cfg": 1.0, "adm_scaler_positive": 1.0,
        "adm_scaler_negative": 1.0, "adm_scaler_end": 0.0, "refiner_switch": 1.0,
    }  # fmt: skip


def _distilled(table: np.ndarray) -> np.ndarray:
    """LCM/TCD's table (ModelSamplingDiscreteDistilled): timesteps 19, 39, …, 999 of the 1000."""
    return table[19::20]


def _expected_levels(scheduler: str, steps: int, table: np.ndarray) -> list[float]:
    if scheduler in ("lcm", "tcd"):  # sgm_uniform over the distilled table: timesteps 999 → 19
        ts = np.linspace(999.0, 19.0, steps + 1)[:-1]
        return [at(_distilled(table), (t - 19.0) / 20.0) for t in ts] + [0.0]
    if scheduler == "sgm_uniform":  # timesteps 999 → 0, the last dropped
        return [at(table, t) for t in np.linspace(999.0, 0.0, steps + 1)[:-1]] + [0.0]
    assert scheduler == "karras"
    return karras(steps, table[0], table[-1]) + [0.0]


@pytest.mark.parametrize(
    ("steps", "sampler", "scheduler"),
    [v[:3] for v in FOOOCUS_FAST_MODES.values()] + [(8, "tcd", "tcd")],
    ids=[*FOOOCUS_FAST_MODES, "TCD"],
)
def test_each_fast_mode_samples_fooocus_noise_levels(kernel, make, recorded, steps, sampler, scheduler):
    runs = recorded(sampler)
    run(kernel, make(steps=steps, sampler=sampler, scheduler=scheduler, **FAST_FORCED))
    expected = _expected_levels(scheduler, steps, model_table(kernel))
    assert runs[-1].sigmas == pytest.approx(expected, rel=1e-6)


def test_extreme_speed_conditions_the_model_on_the_distilled_timesteps(kernel, make):
    # LCM's UNet sees the distilled timestep nearest (in log-sigma) to each level; a level halfway
    # between two (index 24.5 here) may go to either.
    task = make(steps=8, sampler="lcm", scheduler="lcm", **FAST_FORCED)
    seen = [t for _, t in _unet_inputs(kernel, task)]
    distilled = np.log(_distilled(model_table(kernel)))
    levels = _expected_levels("lcm", 8, model_table(kernel))[:-1]
    assert len(seen) == len(levels)
    for t, level in zip(seen, levels, strict=True):
        gaps = np.abs(distilled - np.log(level))
        nearest = {int(i) * 20 + 19 for i in np.flatnonzero(gaps <= gaps.min() + 1e-9)}
        assert int(t) in nearest and t == int(t), (t, nearest)
