"""Samplers and schedules against a case with a known answer.

For data x0 ~ N(0, 1) the ideal denoiser is x0_hat = x / (1 + sigma²), and the probability-flow ODE from
x = n·sigma_max ends exactly at n·sigma_max / sqrt(1 + sigma_max²). Deterministic samplers must converge
to it as steps grow; stochastic ones must end with unit variance.
"""

from __future__ import annotations

import pytest
import torch

from inference_worker.diffusers_kernel.sampling.noise import NoiseSource
from inference_worker.diffusers_kernel.sampling.samplers import SAMPLERS
from inference_worker.diffusers_kernel.sampling.sigmas import (
    SCHEDULES,
    VARIANCE_PRESERVING,
    ModelSigmas,
    schedule,
)

MS = ModelSigmas({"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear"})
DETERMINISTIC = ["euler", "heun", "dpm_2", "lms", "dpmpp_2m", "uni_pc", "uni_pc_bh2"]
STOCHASTIC = ["euler_ancestral", "dpm_2_ancestral", "dpmpp_2s_ancestral", "dpmpp_2m_sde", "dpmpp_3m_sde"]


def _sample(name: str, steps: int, sched: str = "karras"):
    sig = schedule(sched, MS, steps)
    n = torch.randn(20000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    calls = []

    def denoise(x, s, i):
        calls.append(i)
        return x / (1 + s * s)

    out = SAMPLERS[name](
        denoise,
        n * float(sig[0]),
        sig,
        NoiseSource(1),  # the SDE samplers draw from its Brownian path
        lambda i, x0: None,
    )
    exact = n * float(sig[0]) / (1 + float(sig[0]) ** 2) ** 0.5
    return out, exact, calls


@pytest.mark.parametrize("name", DETERMINISTIC)
def test_deterministic_samplers_converge_to_the_ode_solution(name):
    err_few = float((_sample(name, 8)[0] - _sample(name, 8)[1]).abs().max())
    out, exact, _ = _sample(name, 40)
    err_many = float((out - exact).abs().max())
    assert err_many < err_few
    assert err_many < (0.2 if name == "euler" else 0.03)


@pytest.mark.parametrize("name", STOCHASTIC)
def test_stochastic_samplers_end_with_the_data_variance(name):
    few, many = float(_sample(name, 10)[0].std()), float(_sample(name, 40)[0].std())
    assert abs(many - 1.0) < abs(few - 1.0)
    assert abs(many - 1.0) < 0.1


def test_second_order_samplers_evaluate_twice_per_step_except_the_last():
    assert len(_sample("heun", 10)[2]) == 19
    assert len(_sample("dpmpp_2m", 10)[2]) == 10


# A1111's DDIM timesteps stop at timestep 1, not 0 (test_a1111_ddim.py).
@pytest.mark.parametrize("name", [n for n in SCHEDULES if n not in VARIANCE_PRESERVING])
def test_schedules_descend_from_sigma_max_to_zero(name):
    sig = schedule(name, MS, 8)
    assert len(sig) == 9 and float(sig[-1]) == 0.0
    assert all(float(a) > float(b) for a, b in zip(sig[:-1], sig[1:], strict=False))
    assert float(sig[0]) <= MS.sigma_max + 1e-3


def test_named_schedules_have_their_shapes():
    karras = schedule("karras", MS, 10)
    assert abs(float(karras[0]) - MS.sigma_max) < 1e-9 and abs(float(karras[-2]) - MS.sigma_min) < 1e-9
    normal, sgm = schedule("normal", MS, 10), schedule("sgm_uniform", MS, 10)
    assert abs(float(normal[-2]) - MS.sigma_min) < 1e-6 and float(sgm[-2]) > MS.sigma_min
    assert float(schedule("simple", MS, 10)[1]) == float(MS.table[-1 - 100])
    assert [round(float(s), 3) for s in schedule("align_your_steps", MS, 10)[:3]] == [14.615, 6.315, 3.771]


def test_timestep_and_sigma_are_inverse():
    t = torch.tensor([0.0, 10.5, 500.25, 999.0], dtype=torch.float64)
    assert torch.allclose(MS.timestep(MS.sigma(t)), t, atol=1e-6)
