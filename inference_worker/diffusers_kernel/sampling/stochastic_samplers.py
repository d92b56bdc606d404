"""Samplers that re-inject noise in ways the basic loops do not: dpmpp_sde, ddpm, tcd, restart.

Same interface as samplers.py. Written from the published methods: DPM-Solver++(2S) with SDE noise
(Lu et al. 2022), the DDPM ancestral posterior (Ho et al. 2020), Trajectory Consistency Distillation's
strategic stochastic sampling (Zheng et al. 2024) and Restart sampling (Xu et al. 2023).
"""

from __future__ import annotations

import math

from inference_worker.diffusers_kernel.sampling.sigmas import karras_between


def _f(v) -> float:
    return float(v)


def _ancestral(sigma: float, sigma_next: float) -> tuple[float, float]:
    if sigma_next == 0:
        return 0.0, 0.0
    up = min(sigma_next, (sigma_next**2 * (sigma**2 - sigma_next**2) / sigma**2) ** 0.5)
    return (sigma_next**2 - up**2) ** 0.5, up


def dpmpp_sde(denoise, x, sigmas, noise, on_step, r: float = 0.5):
    """Second-order single-step DPM-Solver++ with Brownian noise at the midpoint and the end."""
    s = [_f(v) for v in sigmas]
    brownian = noise.brownian(x, s)
    for i in range(len(s) - 1):
        x0 = denoise(x, s[i], i)
        if s[i + 1] == 0:
            x = x0
        else:
            lam, lam_next = -math.log(s[i]), -math.log(s[i + 1])
            h = lam_next - lam
            s_mid = math.exp(-(lam + r * h))
            down, up = _ancestral(s[i], s_mid)
            x2 = (down / s[i]) * x - math.expm1(-(-math.log(down) - lam)) * x0
            x2 = x2 + brownian(s[i], s_mid) * up
            x0_mid = denoise(x2, s_mid, i)
            down, up = _ancestral(s[i], s[i + 1])
            blend = (1 - 1 / (2 * r)) * x0 + (1 / (2 * r)) * x0_mid
            x = (down / s[i]) * x - math.expm1(-(-math.log(down) - lam)) * blend
            x = x + brownian(s[i], s[i + 1]) * up
        on_step(i, x0)
    return x


def ddpm(denoise, x, sigmas, noise, on_step):
    """Ancestral sampling from the DDPM posterior q(x_prev | x_t, x0), in the variance-preserving frame."""
    s = [_f(v) for v in sigmas]
    for i in range(len(s) - 1):
        x0 = denoise(x, s[i], i)
        if s[i + 1] == 0:
            x = x0
        else:
            a, a_prev = 1 / (1 + s[i] ** 2), 1 / (1 + s[i + 1] ** 2)
            alpha = a / a_prev
            eps = (x - x0) / s[i]
            mean = (x * a**0.5 - (1 - alpha) / (1 - a) ** 0.5 * eps) / alpha**0.5
            spread = ((1 - alpha) * (1 - a_prev) / (1 - a)) ** 0.5
            x = (mean + spread * noise(x)) / a_prev**0.5
        on_step(i, x0)
    return x


def tcd(denoise, x, sigmas, noise, on_step, gamma: float = 0.3):
    """TCD's strategic stochastic sampling, as Fooocus (and diffusers' TCDScheduler) run it.

    From the step's x0 and eps estimates it lands on the whole training timestep
    s = floor((1 − gamma)·t(σ_next)), with t(σ_next) the next level's timestep on the model's table, using
    the model's own ᾱ_s; then it diffuses forward from s up to σ_next with fresh noise. The last step lands
    on timestep 0 (ᾱ_0 < 1: a trace of eps stays, in both of those too); gamma 0 re-noises nothing."""
    s = [_f(v) for v in sigmas]
    for i in range(len(s) - 1):
        x0 = denoise(x, s[i], i)
        eps = (x - x0) / s[i]
        table = denoise.model_sigmas  # the table of the model that made this step's estimate
        t_next = int(round(float(table.timestep(s[i + 1])))) if s[i + 1] > 0 else 0
        # rounded before the floor so that 0.7 · 10 is 7, not 6.999…
        a = float(table.alphas_cumprod[math.floor(round((1 - gamma) * t_next, 6))])
        landed = a**0.5 * x0 + (1 - a) ** 0.5 * eps  # variance-preserving latent at timestep s
        if gamma > 0 and s[i + 1] > 0:
            # σ_next² − σ_s²; never below 0 on the model's table, max() only guards float noise
            x = landed / a**0.5 + noise(x) * max(0.0, s[i + 1] ** 2 + 1 - 1 / a) ** 0.5
        else:
            x = landed * (1 + s[i + 1] ** 2) ** 0.5
        on_step(i, x0)
    return x


def restart_plan(s: list[float]) -> list[tuple[float, float]]:
    """(from, to) noise levels: the schedule, re-spaced to make room for restart segments of [0.1, 2].

    From 20 steps on, one restart segment of 9 steps (two of steps // 4 from 36 on) jumps back from
    sigma≈0.1 to sigma≈2; the main schedule is re-spaced (Karras) so the total stays `steps`."""
    steps = len(s) - 1
    if steps < 20:
        return list(zip(s[:-1], s[1:], strict=True))
    seg_steps, times = (steps // 4, 2) if steps >= 36 else (9, 1)
    main = karras_between(steps - seg_steps * times, s[-2], s[0]) + [0.0]
    hi_idx = min(range(len(main)), key=lambda k: abs(main[k] - 2.0))
    lo_idx = min(range(len(main)), key=lambda k: abs(main[k] - 0.1))
    plan: list[tuple[float, float]] = []
    for k in range(len(main) - 1):
        plan.append((main[k], main[k + 1]))
        if k + 1 == lo_idx and hi_idx < lo_idx:
            back = karras_between(seg_steps + 1, main[lo_idx], main[hi_idx])
            for _ in range(times):
                plan += list(zip(back[:-1], back[1:], strict=True))
    return plan


def restart(denoise, x, sigmas, noise, on_step):
    """Heun steps; at each restart the latent is re-noised from the low level back up to the high one."""
    plan = restart_plan([_f(v) for v in sigmas])
    last = None
    for i, (a, b) in enumerate(plan):
        if last is not None and last < a:
            x = x + noise(x) * (a**2 - last**2) ** 0.5
        x0 = denoise(x, a, i)
        d = (x - x0) / a
        if b == 0:
            x = x + d * (b - a)
        else:
            x2 = x + d * (b - a)
            d2 = (x2 - denoise(x2, b, i)) / b
            x = x + (d + d2) / 2 * (b - a)
        last = b
        on_step(i, x0)
    return x


def heunpp2(denoise, x, sigmas, noise, on_step):
    """Heun with up to three slopes (now, next, the one after), weighted by their noise levels."""
    s = [_f(v) for v in sigmas]
    end = s[-1]
    for i in range(len(s) - 1):
        x0 = denoise(x, s[i], i)
        d = (x - x0) / s[i]
        dt = s[i + 1] - s[i]
        if s[i + 1] == end:
            x = x + d * dt
        else:
            x2 = x + d * dt
            d2 = (x2 - denoise(x2, s[i + 1], i)) / s[i + 1]
            if s[i + 2] == end:
                w2 = s[i + 1] / (2 * s[0])
                x = x + ((1 - w2) * d + w2 * d2) * dt
            else:
                x3 = x2 + d2 * (s[i + 2] - s[i + 1])
                d3 = (x3 - denoise(x3, s[i + 2], i)) / s[i + 2]
                w2, w3 = s[i + 1] / (3 * s[0]), s[i + 2] / (3 * s[0])
                x = x + ((1 - w2 - w3) * d + w2 * d2 + w3 * d3) * dt
        on_step(i, x0)
    return x
