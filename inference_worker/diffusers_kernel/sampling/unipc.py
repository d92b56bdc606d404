"""UniPC (Zhao et al. 2023): multistep predictor + corrector on x0 predictions, order 3, in sigma space.

With lambda = -log(sigma), one step from s to t (h = lambda_t - lambda_s) reads
    x_t = (sigma_t / sigma_s) x_s - expm1(-h) m_s - B(h) · Σ rho_k D_k
where m are x0 predictions and D_k their scaled differences. The corrector reuses the model output
taken at the new point for the predictor of the next step, so it costs no extra evaluation.
A final sigma of 0 is replaced by 0.001, as in Fooocus (log-sigma must stay finite); x is then x0 to
within noise. Fooocus also drops the schedule's last non-zero level for UniPC (the kernel does that).
"""

from __future__ import annotations

import math

import torch

FINAL_SIGMA = 1e-3


def _coefficients(lambdas_prev: list[float], lambda_s: float, h: float, order: int, variant: str):
    """rks, the right-hand side b, the matrix R and B(h) of the UniPC linear system."""
    rks = [(lp - lambda_s) / h for lp in lambdas_prev] + [1.0]
    hh = -h
    h_phi_1 = torch.expm1(torch.tensor(hh, dtype=torch.float64))
    b_h = hh if variant == "bh1" else float(h_phi_1)
    h_phi_k = h_phi_1 / hh - 1
    factorial = 1
    r_rows, b = [], []
    rk_t = torch.tensor(rks, dtype=torch.float64)
    for i in range(1, order + 1):
        r_rows.append(rk_t ** (i - 1))
        b.append(h_phi_k * factorial / b_h)
        factorial *= i + 1
        h_phi_k = h_phi_k / hh - 1 / factorial
    return rks, torch.stack(b), torch.stack(r_rows), b_h, float(h_phi_1)


def _update(x, m0, ms_prev, lambdas_prev, sigma_s, sigma_t, order, variant, model_t=None):
    """Predictor (model_t None) or corrector step from sigma_s to sigma_t."""
    lambda_s, lambda_t = -math.log(sigma_s), -math.log(sigma_t)
    h = lambda_t - lambda_s
    k = order - 1  # how many earlier outputs enter the step
    rks, b, r, b_h, h_phi_1 = _coefficients(lambdas_prev[:k], lambda_s, h, order, variant)
    diffs = [(m - m0) / rk for m, rk in zip(ms_prev[:k], rks[:k], strict=True)]
    base = (sigma_t / sigma_s) * x - h_phi_1 * m0
    if model_t is None:
        if not diffs:
            return base
        rhos = [0.5] if order == 2 else torch.linalg.solve(r[:-1, :-1], b[:-1]).tolist()
        return base - b_h * sum(rho * d for rho, d in zip(rhos, diffs, strict=True))
    rhos = [0.5] if order == 1 else torch.linalg.solve(r, b).tolist()
    correction = sum(rho * d for rho, d in zip(rhos[:-1], diffs, strict=True)) if diffs else 0
    return base - b_h * (correction + rhos[-1] * (model_t - m0))


def sample_unipc(denoise, x, sigmas, on_step, variant: str = "bh1", order: int = 3):
    s = [float(v) for v in sigmas]
    if s[-1] == 0:
        if s[-2] <= FINAL_SIGMA:
            raise ValueError(
                f"UniPC ends at sigma {FINAL_SIGMA}: the level before it must be higher, not {s[-2]}"
            )
        s[-1] = FINAL_SIGMA
    n = len(s) - 1
    ms: list[torch.Tensor] = []  # x0 predictions, newest last
    lambdas: list[float] = []
    x_prev = None
    prev_order = 1
    for i in range(n):
        m = denoise(x, s[i], i)
        if x_prev is not None:  # correct x_i with the output just taken there
            prev_ms = ms[-2::-1]
            prev_l = lambdas[-2::-1]
            x = _update(x_prev, ms[-1], prev_ms, prev_l, s[i - 1], s[i], prev_order, variant, model_t=m)
        ms.append(m)
        lambdas.append(-math.log(s[i]))
        ms, lambdas = ms[-order:], lambdas[-order:]
        this_order = min(order, n - i, len(ms))  # lower order at the start and on the final steps
        x_prev = x
        x = _update(x, ms[-1], ms[-2::-1], lambdas[-2::-1], s[i], s[i + 1], this_order, variant)
        prev_order = this_order
        on_step(i, m)
    return x
