"""The timestep the UNet is conditioned on, and what guidance progress and the ADM switch read from it.

Fooocus (through ComfyUI's discrete model sampling) gives the UNet the index of the training noise level
nearest in log-sigma: a whole timestep. The reference here rebuilds that table from the model's own
scheduler config with numpy (betas → ᾱ → sigmas), apart from the kernel's code.
"""

from __future__ import annotations

import numpy as np
import pytest

from contract.task import AdmScalers
from inference_worker.diffusers_kernel.sampling.guidance import Guidance
from tests.inference_worker.diffusers_kernel.fidelity_models import run


def training_log_sigmas(config: dict) -> np.ndarray:
    n = int(config["num_train_timesteps"])
    start, end = float(config["beta_start"]), float(config["beta_end"])
    assert config["beta_schedule"] == "scaled_linear"
    betas = np.linspace(np.sqrt(start), np.sqrt(end), n) ** 2
    alphas_cumprod = np.cumprod(1.0 - betas)
    return np.log(np.sqrt((1.0 - alphas_cumprod) / alphas_cumprod))


def nearest_timestep(log_sigmas: np.ndarray, sigma: float) -> int:
    return int(np.argmin(np.abs(log_sigmas - np.log(sigma))))


def fractional_timestep(log_sigmas: np.ndarray, sigma: float) -> float:
    """Log-linear interpolation between the table's levels (what a continuous-time caller would pass)."""
    return float(np.interp(np.log(sigma), log_sigmas, np.arange(len(log_sigmas))))


def _record(kernel, task, monkeypatch):
    """(timesteps the UNet got, progress guidance got, time_ids rows) per model call, and the schedule."""
    run(kernel, task)  # the model is resident, so the hooks land on the UNet that will run
    unet = kernel._models.base.pipe.unet
    timesteps, time_ids, progress = [], [], []

    def on_call(_module, args, kwargs):
        timesteps.append(float(args[1]))
        time_ids.append(kwargs["added_cond_kwargs"]["time_ids"].tolist())

    combine = Guidance.combine

    def recording_combine(self, x, pos, neg, p):
        progress.append(p)
        return combine(self, x, pos, neg, p)

    monkeypatch.setattr(Guidance, "combine", recording_combine)
    hook = unet.register_forward_pre_hook(on_call, with_kwargs=True)
    try:
        run(kernel, task)
    finally:
        hook.remove()
    sig = [float(s) for s in kernel._schedule(task, kernel._prepared.base.sigmas, "sdxl")[:-1]]
    return timesteps, progress, time_ids, sig


@pytest.mark.parametrize("scheduler", ["karras", "exponential"])
def test_the_unet_gets_the_nearest_whole_training_timestep_and_progress_reads_it(
    kernel, make, monkeypatch, scheduler
):
    task = make(scheduler=scheduler, steps=6)
    timesteps, progress, _, sig = _record(kernel, task, monkeypatch)
    log_sigmas = training_log_sigmas(dict(kernel._models.base.pipe.scheduler.config))
    expected = [nearest_timestep(log_sigmas, s) for s in sig]
    # These schedules fall between the table's levels: a fractional timestep would show here.
    assert any(abs(fractional_timestep(log_sigmas, s) - t) > 0.01 for s, t in zip(sig, expected, strict=True))
    assert timesteps == [float(t) for t in expected]
    # Fooocus's sharpness and adaptive-CFG progress is 1 − t/999 of that same whole timestep.
    assert progress == pytest.approx([1.0 - t / 999.0 for t in expected], abs=1e-12)


def test_the_adm_switch_reads_the_whole_timestep(kernel, make, monkeypatch):
    probe = make(steps=8)
    _, _, _, sig = _record(kernel, probe, monkeypatch)
    log_sigmas = training_log_sigmas(dict(kernel._models.base.pipe.scheduler.config))
    # A level whose fractional timestep is at least 0.1 from the nearest whole one; the ADM threshold goes
    # halfway between them, so Fooocus's whole timestep and a fractional one fall on opposite sides.
    step, frac = next(
        (i, fractional_timestep(log_sigmas, s))
        for i, s in enumerate(sig)
        if abs(fractional_timestep(log_sigmas, s) - nearest_timestep(log_sigmas, s)) > 0.1
    )
    whole = nearest_timestep(log_sigmas, sig[step])
    threshold = (whole + frac) / 2
    task = make(steps=8, adm=AdmScalers(positive=1.5, negative=0.8, end=1.0 - threshold / 999.0))
    timesteps, _, time_ids, _ = _record(kernel, task, monkeypatch)
    scaled = [[96, 96, 0, 0, 64, 64], [51, 51, 0, 0, 64, 64]]
    plain = [[64, 64, 0, 0, 64, 64]] * 2
    for i, s in enumerate(sig):
        assert time_ids[i] == (scaled if nearest_timestep(log_sigmas, s) > threshold else plain), i
    assert time_ids[step] == (scaled if whole > frac else plain)
    assert timesteps[step] == whole
