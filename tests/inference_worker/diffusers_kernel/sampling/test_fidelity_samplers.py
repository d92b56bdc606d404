"""The samplers and schedules added for Fooocus's full list, against known answers and through the kernel.

As in test_sampling_math: for data x0 ~ N(0, 1) the ideal denoiser is x / (1 + sigma²) and the
probability-flow ODE from n·sigma_max ends at n·sigma_max / sqrt(1 + sigma_max²).
"""

from __future__ import annotations

import pytest
import torch

from contract.events import FailureKind
from contract.task import Sampler, Scheduler
from inference_worker.diffusers_kernel.sampling.dpm_solver import fast_orders
from inference_worker.diffusers_kernel.sampling.noise import NoiseSource
from inference_worker.diffusers_kernel.sampling.samplers import SAMPLERS
from inference_worker.diffusers_kernel.sampling.sigmas import DistilledSigmas, ModelSigmas, schedule
from inference_worker.diffusers_kernel.sampling.stochastic_samplers import restart_plan
from inference_worker.kernel import KernelError
from tests.inference_worker.diffusers_kernel.fidelity_models import pixels

CONFIG = {"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear"}
MS = ModelSigmas(CONFIG)
DISTILLED = DistilledSigmas(CONFIG)


class IdealDenoiser:
    def __init__(self, table: ModelSigmas) -> None:
        self.model_sigmas = table
        self.calls = 0

    def __call__(self, x, sigma, step):
        self.calls += 1
        return x / (1 + sigma * sigma)


def _sample(name: str, steps: int, sched: str = "karras", table: ModelSigmas = MS):
    sig = schedule(sched, table, steps)
    n = torch.randn(20000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    denoise = IdealDenoiser(table)
    reported: list[int] = []
    out = SAMPLERS[name](denoise, n * float(sig[0]), sig, NoiseSource(1), lambda i, x0: reported.append(i))
    return out.double(), n * float(sig[0]) / (1 + float(sig[0]) ** 2) ** 0.5, denoise.calls, reported


@pytest.mark.parametrize(("name", "tolerance"), [("dpm_fast", 0.03), ("heunpp2", 0.2)])
def test_deterministic_samplers_converge_to_the_ode_solution(name, tolerance):
    # heunpp2 weighs its extra slopes by sigma / sigma_max, so late steps are nearly Euler: Euler's bound.
    few_out, exact, _, _ = _sample(name, 6)
    out, _, _, _ = _sample(name, 30)
    assert float((out - exact).abs().max()) < tolerance
    assert float((out - exact).abs().max()) < float((few_out - exact).abs().max())


def test_dpm_adaptive_meets_a_tighter_tolerance_with_more_evaluations():
    sig = schedule("karras", MS, 10)
    n = torch.randn(20000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    exact = n * float(sig[0]) / (1 + float(sig[0]) ** 2) ** 0.5
    errors, calls = [], []
    for rtol in (0.05, 0.005):
        denoise = IdealDenoiser(MS)
        out = SAMPLERS["dpm_adaptive"](
            denoise, n * float(sig[0]), sig, NoiseSource(1), lambda i, x0: None, rtol=rtol
        )
        errors.append(float((out - exact).abs().max()))
        calls.append(denoise.calls)
    assert errors[1] < errors[0] / 3 and errors[1] < 0.05 and calls[1] > calls[0]


@pytest.mark.parametrize(
    ("name", "sched"), [("dpmpp_sde", "karras"), ("ddpm", "normal"), ("restart", "karras")]
)
def test_stochastic_samplers_end_with_the_data_variance(name, sched):
    few, many = float(_sample(name, 8, sched)[0].std()), float(_sample(name, 40, sched)[0].std())
    assert abs(many - 1.0) < 0.1 and abs(many - 1.0) <= abs(few - 1.0) + 0.02


def test_tcd_on_the_distilled_table_approaches_the_data_variance():
    few, many = (abs(float(_sample("tcd", n, "tcd", DISTILLED)[0].std()) - 1.0) for n in (8, 40))
    assert many < few and many < 0.12


def test_dpm_fast_spends_exactly_the_steps_and_reports_each():
    assert [sum(fast_orders(n)) for n in range(1, 12)] == list(range(1, 12))
    _, _, calls, reported = _sample("dpm_fast", 10)
    assert calls == 10 and reported == list(range(10))


def test_dpm_adaptive_reports_monotonic_progress():
    _, _, calls, reported = _sample("dpm_adaptive", 10)
    assert reported == sorted(reported) and max(reported) <= 9 and calls == len(reported)


def test_restart_keeps_the_step_count_and_jumps_back_up():
    s = [float(v) for v in schedule("karras", MS, 30)]
    plan = restart_plan(s)
    assert len(plan) == 30
    assert any(b_prev < a for (_, b_prev), (a, _) in zip(plan[:-1], plan[1:], strict=True))
    short = s[:11] + [0.0]  # under 20 steps: plain Heun over the schedule
    assert restart_plan(short) == list(zip(short[:-1], short[1:], strict=True))


def test_distilled_table_snaps_to_its_fifty_timesteps():
    sig = schedule("lcm", DISTILLED, 8)
    valid = set(range(19, 1000, 20))
    assert all(int(DISTILLED.timestep(float(s))) in valid for s in sig[:-1])
    assert int(DISTILLED.timestep(float(sig[0]))) == 999


# ----- through the kernel --------------------------------------------------------------------------


def test_the_kernel_offers_every_fooocus_name_but_one(kernel):
    assert kernel.samplers() == sorted(s.value for s in Sampler)
    assert kernel.schedulers() == sorted(s.value for s in Scheduler if s.value != "edm_playground_v2.5")


def test_edm_schedule_is_refused_with_its_reason(kernel, make):
    with pytest.raises(KernelError) as exc:
        kernel.check(make(scheduler="edm_playground_v2.5"))
    assert exc.value.kind is FailureKind.unsupported and "EDM" in exc.value.message


def test_extreme_speed_settings_run_and_the_lcm_schedule_differs(kernel, make):
    lcm = pixels(kernel, make(sampler="lcm", scheduler="lcm", steps=8, guidance_scale=1.0, adaptive_cfg=1.0))
    uniform = pixels(kernel, make(sampler="lcm", scheduler="sgm_uniform", steps=8, guidance_scale=1.0))
    assert lcm != uniform
    assert pixels(kernel, make(scheduler="tcd", steps=8)) != pixels(
        kernel, make(scheduler="sgm_uniform", steps=8)
    )


def test_dpm_2_gets_one_more_schedule_entry_minus_the_penultimate(kernel, make):
    task = make(sampler="dpm_2", steps=5)
    pixels(kernel, task)
    table = kernel._prepared.base.sigmas
    longer = schedule("karras", table, 6).float()
    assert torch.allclose(kernel._schedule(task, table, "sdxl"), torch.cat([longer[:-2], longer[-1:]]))
