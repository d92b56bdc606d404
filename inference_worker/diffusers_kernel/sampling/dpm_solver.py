"""DPM-Solver (Lu et al. 2022), single-step, noise-prediction form: the `dpm_fast` and `dpm_adaptive` samplers.

Both work in lambda = −log(sigma) between the schedule's highest and lowest non-zero noise levels; the
scheduler contributes only that range (as in Fooocus). They end at the lowest level, not at zero.
- dpm_fast spends exactly `steps` model evaluations: as many third-order steps as fit, then a second-
  and/or first-order one, on steps uniform in lambda.
- dpm_adaptive chooses its own step sizes with an embedded second/third-order pair and an error
  tolerance; the number of evaluations follows the image, and progress follows lambda.
"""

from __future__ import annotations

import math

import torch

RTOL, ATOL, H_INIT = 0.05, 0.0078, 0.05
MAX_ATTEMPTS = 2000  # a runaway controller ends with an error instead of running forever


class _Solver:
    def __init__(self, denoise, on_eval) -> None:
        self.denoise = denoise
        self.on_eval = on_eval
        self.count = 0

    def eps(self, x, lam: float):
        sigma = math.exp(-lam)
        x0 = self.denoise(x, sigma, self.count)
        self.count += 1
        self.on_eval(x0)
        return (x - x0) / sigma

    def first(self, x, lam, lam_next, e):
        return x - math.exp(-lam_next) * math.expm1(lam_next - lam) * e

    def second(self, x, lam, lam_next, e, r1: float = 0.5):
        h = lam_next - lam
        s1 = lam + r1 * h
        u1 = x - math.exp(-s1) * math.expm1(r1 * h) * e
        e1 = self.eps(u1, s1)
        x_next = self.first(x, lam, lam_next, e) - math.exp(-lam_next) / (2 * r1) * math.expm1(h) * (e1 - e)
        return x_next, e1

    def third(self, x, lam, lam_next, e, e1=None, r1: float = 1 / 3, r2: float = 2 / 3):
        h = lam_next - lam
        s1, s2 = lam + r1 * h, lam + r2 * h
        if e1 is None:
            e1 = self.eps(x - math.exp(-s1) * math.expm1(r1 * h) * e, s1)
        phi = math.expm1(r2 * h) / (r2 * h) - 1
        u2 = x - math.exp(-s2) * math.expm1(r2 * h) * e - math.exp(-s2) * (r2 / r1) * phi * (e1 - e)
        e2 = self.eps(u2, s2)
        return self.first(x, lam, lam_next, e) - math.exp(-lam_next) / r2 * (math.expm1(h) / h - 1) * (e2 - e)


def _range(sigmas) -> tuple[float, float]:
    positive = [float(v) for v in sigmas if float(v) > 0]
    return max(positive), min(positive)


def fast_orders(evaluations: int) -> list[int]:
    """Step orders that spend exactly `evaluations` model calls, highest orders first."""
    steps = evaluations // 3 + 1
    if evaluations % 3 == 0:
        return [3] * (steps - 2) + [2, 1]
    return [3] * (steps - 1) + [evaluations % 3]


def dpm_fast(denoise, x, sigmas, noise, on_step):
    evaluations = len(sigmas) - 1
    hi, lo = _range(sigmas)
    solver = _Solver(denoise, lambda x0: on_step(solver.count - 1, x0))
    orders = fast_orders(evaluations)
    lams = torch.linspace(-math.log(hi), -math.log(lo), len(orders) + 1, dtype=torch.float64).tolist()
    for order, lam, lam_next in zip(orders, lams[:-1], lams[1:], strict=True):
        e = solver.eps(x, lam)
        if order == 1:
            x = solver.first(x, lam, lam_next, e)
        elif order == 2:
            x, _ = solver.second(x, lam, lam_next, e)
        else:
            x = solver.third(x, lam, lam_next, e)
    return x


def dpm_adaptive(denoise, x, sigmas, noise, on_step, rtol: float = RTOL, atol: float = ATOL):
    total = len(sigmas) - 1
    hi, lo = _range(sigmas)
    lam_start, lam_end = -math.log(hi), -math.log(lo)
    lam = lam_start

    def report(x0):  # every evaluation reports (and so can be stopped); the step follows lambda
        on_step(min(total - 1, int((lam - lam_start) / (lam_end - lam_start) * total)), x0)

    solver = _Solver(denoise, report)
    h, e, x_prev = H_INIT, None, x
    for _ in range(MAX_ATTEMPTS):
        if lam >= lam_end - 1e-5:
            return x
        h = min(h, lam_end - lam)
        if e is None:
            e = solver.eps(x, lam)
        low, e1 = solver.second(x, lam, lam + h, e, r1=1 / 3)
        high = solver.third(x, lam, lam + h, e, e1=e1)
        scale = torch.clamp(rtol * torch.maximum(low.abs(), x_prev.abs()), min=atol)
        error = float(torch.linalg.vector_norm((low - high) / scale)) / low.numel() ** 0.5
        if error <= 1:
            x_prev, x, lam, e = x, high, lam + h, None
        h *= min(5.0, max(0.2, 0.9 * max(error, 1e-10) ** (-1 / 3)))
    raise RuntimeError(f"dpm_adaptive did not converge in {MAX_ATTEMPTS} attempts")
