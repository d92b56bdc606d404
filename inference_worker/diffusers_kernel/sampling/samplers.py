"""Sampling loops in the sigma parameterisation, under Fooocus's sampler names.

Every sampler takes `denoise(x, sigma, i) → x0 estimate`, the start latent `x` (noise × `start_noise_scale`),
the schedule `sigmas` (descending, ending with 0, or for `a1111_ddim` at timestep 1), `noise(like)` for fresh noise (drawn from the
task's CPU generator so a seed means the same image on any device; the SDE samplers use its
`noise.brownian` path instead) and `on_step(i, x0)` called once per step. Written from the
published update rules (Karras et al. 2022; Lu et al. 2022 DPM-Solver++; Zhao et al. 2023 UniPC).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from inference_worker.diffusers_kernel.sampling.dpm_solver import dpm_adaptive, dpm_fast
from inference_worker.diffusers_kernel.sampling.stochastic_samplers import (
    ddpm,
    dpmpp_sde,
    heunpp2,
    restart,
    tcd,
)
from inference_worker.diffusers_kernel.sampling.unipc import sample_unipc

Denoise = Callable[[torch.Tensor, float, int], torch.Tensor]
Noise = Callable[[torch.Tensor], torch.Tensor]
OnStep = Callable[[int, torch.Tensor], None]


def start_noise_scale(sigma_start: float, sigma_max: float, variance_preserving: bool = False) -> float:
    """What unit noise is multiplied by to start sampling at `sigma_start`.

    A start at the model's highest level is pure noise in the variance-preserving form (x / sqrt(1 + σ²)
    has unit variance), so the noise is scaled by sqrt(1 + σ²), as Fooocus does; a lower start, σ. A
    `variance_preserving` schedule (AUTOMATIC1111's DDIM timesteps) starts from unit noise in that form at
    any level: sqrt(1 + σ²) always."""
    if variance_preserving or math.isclose(sigma_start, sigma_max, rel_tol=1e-5) or sigma_start > sigma_max:
        return math.sqrt(1.0 + sigma_start**2)
    return sigma_start


def _ancestral(sigma: float, sigma_next: float, eta: float = 1.0) -> tuple[float, float]:
    """Split a step into a deterministic part down to sigma_down and fresh noise of size sigma_up."""
    if sigma_next == 0 or eta == 0:
        return sigma_next, 0.0
    up = min(sigma_next, eta * (sigma_next**2 * (sigma**2 - sigma_next**2) / sigma**2) ** 0.5)
    return (sigma_next**2 - up**2) ** 0.5, up


def _sig(sigmas: torch.Tensor) -> list[float]:
    return [float(s) for s in sigmas]


def euler(denoise: Denoise, x, sigmas, noise: Noise, on_step: OnStep):
    s = _sig(sigmas)
    for i in range(len(s) - 1):
        x0 = denoise(x, s[i], i)
        x = x + (x - x0) / s[i] * (s[i + 1] - s[i])
        on_step(i, x0)
    return x


def euler_ancestral(denoise: Denoise, x, sigmas, noise: Noise, on_step: OnStep):
    s = _sig(sigmas)
    for i in range(len(s) - 1):
        x0 = denoise(x, s[i], i)
        down, up = _ancestral(s[i], s[i + 1])
        x = x + (x - x0) / s[i] * (down - s[i])
        if up > 0:
            x = x + noise(x) * up
        on_step(i, x0)
    return x


def heun(denoise: Denoise, x, sigmas, noise: Noise, on_step: OnStep):
    s = _sig(sigmas)
    for i in range(len(s) - 1):
        x0 = denoise(x, s[i], i)
        d = (x - x0) / s[i]
        dt = s[i + 1] - s[i]
        if s[i + 1] == 0:
            x = x + d * dt
        else:
            x2 = x + d * dt
            d2 = (x2 - denoise(x2, s[i + 1], i)) / s[i + 1]
            x = x + (d + d2) / 2 * dt
        on_step(i, x0)
    return x


# Adams–Bashforth weights of PLMS, newest eps first, by how many earlier eps estimates there are.
_PLMS_WEIGHTS = {1: (3 / 2, -1 / 2), 2: (23 / 12, -16 / 12, 5 / 12), 3: (55 / 24, -59 / 24, 37 / 24, -9 / 24)}


def plms(denoise: Denoise, x, sigmas, noise: Noise, on_step: OnStep):
    """Pseudo linear multistep (Liu et al. 2022; the PLMS of latent diffusion and AUTOMATIC1111): the Euler step
    (which is DDIM's in this parameterisation) with the eps of an Adams–Bashforth blend of the last four eps
    estimates, whose weights assume evenly spaced timesteps (AUTOMATIC1111's `a1111_ddim`). The first step has
    no history: it averages the eps at its start and at the point an Euler step lands (a second model call)."""
    s = _sig(sigmas)
    history: list[torch.Tensor] = []  # eps at the starts of the previous steps, oldest first
    for i in range(len(s) - 1):
        x0 = denoise(x, s[i], i)
        eps = (x - x0) / s[i]
        if history:
            weights = _PLMS_WEIGHTS[len(history)]
            blend = weights[0] * eps + sum(w * e for w, e in zip(weights[1:], reversed(history), strict=True))
        else:
            landed = x + eps * (s[i + 1] - s[i])
            blend = (eps + (landed - denoise(landed, s[i + 1], i)) / s[i + 1]) / 2
        x = x + blend * (s[i + 1] - s[i])
        history = [*history, eps][-3:]
        on_step(i, x0)
    return x


def _dpm2_step(denoise, x, x0, sigma: float, target: float, i: int):
    d = (x - x0) / sigma
    if target == 0:
        return x + d * (target - sigma)
    mid = float(np.exp((np.log(sigma) + np.log(target)) / 2))
    x2 = x + d * (mid - sigma)
    d2 = (x2 - denoise(x2, mid, i)) / mid
    return x + d2 * (target - sigma)


def dpm_2(denoise: Denoise, x, sigmas, noise: Noise, on_step: OnStep):
    s = _sig(sigmas)
    for i in range(len(s) - 1):
        x0 = denoise(x, s[i], i)
        x = _dpm2_step(denoise, x, x0, s[i], s[i + 1], i)
        on_step(i, x0)
    return x


def dpm_2_ancestral(denoise: Denoise, x, sigmas, noise: Noise, on_step: OnStep):
    s = _sig(sigmas)
    for i in range(len(s) - 1):
        x0 = denoise(x, s[i], i)
        down, up = _ancestral(s[i], s[i + 1])
        x = _dpm2_step(denoise, x, x0, s[i], down, i)
        if up > 0:
            x = x + noise(x) * up
        on_step(i, x0)
    return x


def _lms_coefficient(s: list[float], order: int, i: int, j: int) -> float:
    """∫ from s[i] to s[i+1] of the Lagrange basis polynomial of node s[i-j] over nodes s[i-k], k < order."""
    poly = np.poly1d([1.0])
    for k in range(order):
        if k != j:
            poly *= np.poly1d([1.0, -s[i - k]]) / (s[i - j] - s[i - k])
    antiderivative = poly.integ()
    return float(antiderivative(s[i + 1]) - antiderivative(s[i]))


def lms(denoise: Denoise, x, sigmas, noise: Noise, on_step: OnStep, max_order: int = 4):
    s = _sig(sigmas)
    ds: list[torch.Tensor] = []
    for i in range(len(s) - 1):
        x0 = denoise(x, s[i], i)
        ds.append((x - x0) / s[i])
        ds = ds[-max_order:]
        order = min(i + 1, max_order)
        x = x + sum(_lms_coefficient(s, order, i, j) * ds[-1 - j] for j in range(order))
        on_step(i, x0)
    return x


def dpmpp_2s_ancestral(denoise: Denoise, x, sigmas, noise: Noise, on_step: OnStep):
    s = _sig(sigmas)
    for i in range(len(s) - 1):
        x0 = denoise(x, s[i], i)
        down, up = _ancestral(s[i], s[i + 1])
        if down == 0:
            x = x + (x - x0) / s[i] * (down - s[i])
        else:
            t, t_next = -np.log(s[i]), -np.log(down)
            h = t_next - t
            s_mid = float(np.exp(-(t + h / 2)))
            x2 = (s_mid / s[i]) * x - float(np.expm1(-h / 2)) * x0
            x = (down / s[i]) * x - float(np.expm1(-h)) * denoise(x2, s_mid, i)
        if up > 0:
            x = x + noise(x) * up
        on_step(i, x0)
    return x


def dpmpp_2m(denoise: Denoise, x, sigmas, noise: Noise, on_step: OnStep):
    s = _sig(sigmas)
    old = None
    h_last = None
    for i in range(len(s) - 1):
        x0 = denoise(x, s[i], i)
        if s[i + 1] == 0:
            x = x0
        else:
            h = float(np.log(s[i] / s[i + 1]))
            if old is None or h_last is None:
                blend = x0
            else:
                r = h_last / h
                blend = (1 + 1 / (2 * r)) * x0 - (1 / (2 * r)) * old
            x = (s[i + 1] / s[i]) * x - float(np.expm1(-h)) * blend
            h_last = h
        old = x0
        on_step(i, x0)
    return x


def dpmpp_2m_sde(denoise: Denoise, x, sigmas, noise: Noise, on_step: OnStep, eta: float = 1.0):
    """Second-order multistep SDE solver, midpoint variant."""
    s = _sig(sigmas)
    brownian = noise.brownian(x, s)
    old = None
    h_last = None
    for i in range(len(s) - 1):
        x0 = denoise(x, s[i], i)
        if s[i + 1] == 0:
            x = x0
        else:
            h = float(np.log(s[i] / s[i + 1]))
            eta_h = eta * h
            x = (s[i + 1] / s[i]) * float(np.exp(-eta_h)) * x - float(np.expm1(-h - eta_h)) * x0
            if old is not None and h_last is not None:
                r = h_last / h
                x = x - 0.5 * float(np.expm1(-h - eta_h)) * (1 / r) * (x0 - old)
            if eta:
                x = x + brownian(s[i], s[i + 1]) * s[i + 1] * float(np.sqrt(-np.expm1(-2 * eta_h)))
            h_last = h
        old = x0
        on_step(i, x0)
    return x


def dpmpp_3m_sde(denoise: Denoise, x, sigmas, noise: Noise, on_step: OnStep, eta: float = 1.0):
    s = _sig(sigmas)
    brownian = noise.brownian(x, s)
    x0_1 = x0_2 = None
    h_1 = h_2 = None
    for i in range(len(s) - 1):
        x0 = denoise(x, s[i], i)
        if s[i + 1] == 0:
            x = x0
        else:
            h = float(np.log(s[i] / s[i + 1]))
            h_eta = h * (eta + 1)
            x = float(np.exp(-h_eta)) * x - float(np.expm1(-h_eta)) * x0
            phi_2 = float(np.expm1(-h_eta)) / h_eta + 1
            if h_2 is not None:
                r0, r1 = h_1 / h, h_2 / h
                d1_0 = (x0 - x0_1) / r0
                d1_1 = (x0_1 - x0_2) / r1
                d1 = d1_0 + (d1_0 - d1_1) * r0 / (r0 + r1)
                d2 = (d1_0 - d1_1) / (r0 + r1)
                phi_3 = phi_2 / h_eta - 0.5
                x = x + phi_2 * d1 - phi_3 * d2
            elif h_1 is not None:
                x = x + phi_2 * (x0 - x0_1) / (h_1 / h)
            if eta:
                x = x + brownian(s[i], s[i + 1]) * s[i + 1] * float(np.sqrt(-np.expm1(-2 * h * eta)))
            h_1, h_2 = h, h_1
        x0_1, x0_2 = x0, x0_1
        on_step(i, x0)
    return x


def lcm(denoise: Denoise, x, sigmas, noise: Noise, on_step: OnStep):
    s = _sig(sigmas)
    for i in range(len(s) - 1):
        x0 = denoise(x, s[i], i)
        x = x0 + noise(x0) * s[i + 1] if s[i + 1] > 0 else x0
        on_step(i, x0)
    return x


def _unipc(variant: str):
    def run(denoise: Denoise, x, sigmas, noise: Noise, on_step: OnStep):
        return sample_unipc(denoise, x, sigmas, on_step, variant=variant)

    return run


# Fooocus name → loop. ddim (eta 0) on an epsilon model is exactly the Euler step in sigma space; the
# `_gpu` variants are their plain names: Fooocus replaces every sampler's Brownian noise with one tree per
# image on the latents' device (noise.py), so where the tree lives no longer depends on the name.
SAMPLERS: dict[str, Callable] = {
    "euler": euler,
    "euler_ancestral": euler_ancestral,
    "heun": heun,
    "heunpp2": heunpp2,
    "dpm_fast": dpm_fast,
    "dpm_adaptive": dpm_adaptive,
    "dpmpp_sde": dpmpp_sde,
    "dpmpp_sde_gpu": dpmpp_sde,
    "ddpm": ddpm,
    "tcd": tcd,
    "restart": restart,
    "dpm_2": dpm_2,
    "dpm_2_ancestral": dpm_2_ancestral,
    "lms": lms,
    "dpmpp_2s_ancestral": dpmpp_2s_ancestral,
    "dpmpp_2m": dpmpp_2m,
    "dpmpp_2m_sde": dpmpp_2m_sde,
    "dpmpp_2m_sde_gpu": dpmpp_2m_sde,
    "dpmpp_3m_sde": dpmpp_3m_sde,
    "dpmpp_3m_sde_gpu": dpmpp_3m_sde,
    "ddim": euler,
    "uni_pc": _unipc("bh1"),
    "uni_pc_bh2": _unipc("bh2"),
    "lcm": lcm,
    "plms": plms,
}
# Contract names this kernel refuses, and why (none at present: every Fooocus sampler runs).
REFUSED_SAMPLERS: dict[str, str] = {}
