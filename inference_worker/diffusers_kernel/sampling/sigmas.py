"""Noise levels: the model's discrete sigma table and the named schedules built on it.

Sampling runs in the "sigma" parameterisation (x = x0 + sigma·noise). A Stable Diffusion model was
trained on 1000 discrete timesteps; `ModelSigmas` maps timestep ↔ sigma by log-linear interpolation of
that table, and each schedule picks `steps` sigmas from it, ending with 0 (but for AUTOMATIC1111's own timesteps,
`a1111_ddim` and `a1111_unipc`, which end at timestep 1 and 0).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from contract.a1111_timesteps import SCHEDULE_SAMPLERS

# SDXL's and SD 1.5's own Align-Your-Steps noise levels for 10 steps (log-linearly resampled otherwise).
_AYS = {
    "sdxl": [14.615, 6.315, 3.771, 2.181, 1.342, 0.862, 0.555, 0.380, 0.234, 0.113, 0.029],
    "sd15": [14.615, 6.475, 3.861, 2.697, 1.886, 1.396, 0.963, 0.652, 0.399, 0.152, 0.029],
}


class ModelSigmas:
    """sigma(t) = sqrt((1 - ᾱ_t) / ᾱ_t) for the model's training betas."""

    def __init__(self, config: dict) -> None:
        n = int(config.get("num_train_timesteps", 1000))
        start, end = float(config.get("beta_start", 0.00085)), float(config.get("beta_end", 0.012))
        schedule = config.get("beta_schedule", "scaled_linear")
        if schedule == "scaled_linear":
            betas = torch.linspace(start**0.5, end**0.5, n, dtype=torch.float64) ** 2
        elif schedule == "linear":
            betas = torch.linspace(start, end, n, dtype=torch.float64)
        else:
            raise ValueError(f"beta_schedule {schedule!r} is not supported (scaled_linear, linear)")
        alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)
        self.alphas_cumprod = alphas_cumprod  # all training timesteps, also on a distilled table (tcd)
        self.log_alpha = 0.5 * alphas_cumprod.log()  # log α of each training timestep, decreasing
        self.table = ((1 - alphas_cumprod) / alphas_cumprod) ** 0.5
        self.log_table = self.table.log()
        self.sigma_min = float(self.table[0])
        self.sigma_max = float(self.table[-1])

    def timestep(self, sigma: float | torch.Tensor) -> torch.Tensor:
        """Fractional training timestep of a sigma (what the UNet is conditioned on)."""
        log_sigma = (
            torch.as_tensor(sigma, dtype=torch.float64).log().clamp(self.log_table[0], self.log_table[-1])
        )
        idx = torch.searchsorted(self.log_table, log_sigma.reshape(-1)).clamp(1, len(self.table) - 1)
        lo, hi = self.log_table[idx - 1], self.log_table[idx]
        w = (log_sigma.reshape(-1) - lo) / (hi - lo)
        return (idx - 1 + w).reshape(log_sigma.shape)

    def vp_timestep(self, sigma: float | torch.Tensor) -> torch.Tensor:
        """Fractional training timestep of a sigma with log ᾱ/2 (log α) interpolated linearly between the training
        timesteps, not log σ: the time of DPM-Solver's and UniPC's discrete noise schedule, which AUTOMATIC1111's
        UniPC runs on (`a1111_unipc`)."""
        log_alpha = self.log_alpha
        wanted = -0.5 * torch.log1p(torch.as_tensor(sigma, dtype=torch.float64) ** 2)
        flat = wanted.reshape(-1).clamp(log_alpha[-1], log_alpha[0])
        idx = torch.searchsorted(-log_alpha, -flat).clamp(1, len(log_alpha) - 1)
        lo, hi = log_alpha[idx - 1], log_alpha[idx]
        return (idx - 1 + (lo - flat) / (lo - hi)).reshape(wanted.shape)

    def unet_timestep(self, sigma: float | torch.Tensor) -> torch.Tensor:
        """The whole training timestep whose sigma is nearest in log space: what the UNet is conditioned
        on (as in Fooocus), and what guidance progress and ADM read."""
        log_sigma = torch.as_tensor(sigma, dtype=torch.float64).log()
        nearest = (log_sigma.reshape(-1, 1) - self.log_table.reshape(1, -1)).abs().argmin(dim=1)
        return nearest.to(torch.float64).reshape(log_sigma.shape)

    def sigma(self, timestep: torch.Tensor) -> torch.Tensor:
        t = torch.as_tensor(timestep, dtype=torch.float64).clamp(0, len(self.table) - 1)
        lo = t.floor().long()
        hi = (lo + 1).clamp(max=len(self.table) - 1)
        w = t - lo
        return ((1 - w) * self.log_table[lo] + w * self.log_table[hi]).exp()


class DistilledSigmas(ModelSigmas):
    """The table of a consistency-distilled model (LCM, TCD): every 20th training timestep (50 of 1000).

    `timestep` snaps to the nearest of those timesteps, which are the only ones such a model saw."""

    def __init__(self, config: dict, original_steps: int = 50) -> None:
        super().__init__(config)
        full = len(self.table)
        self.skip = full // original_steps
        self.valid = torch.arange(self.skip - 1, full, self.skip)
        self.table = self.table[self.valid]
        self.log_table = self.table.log()
        self.sigma_min = float(self.table[0])
        self.sigma_max = float(self.table[-1])

    def timestep(self, sigma: float | torch.Tensor) -> torch.Tensor:
        log_sigma = torch.as_tensor(sigma, dtype=torch.float64).log()
        nearest = (log_sigma.reshape(-1, 1) - self.log_table.reshape(1, -1)).abs().argmin(dim=1)
        return (nearest * self.skip + (self.skip - 1)).to(torch.float64).reshape(log_sigma.shape)

    def unet_timestep(self, sigma: float | torch.Tensor) -> torch.Tensor:
        return self.timestep(sigma)

    def sigma(self, timestep: torch.Tensor) -> torch.Tensor:
        index = (torch.as_tensor(timestep, dtype=torch.float64) - (self.skip - 1)) / self.skip
        return super().sigma(index)


def karras_between(points: int, sigma_min: float, sigma_max: float, rho: float = 7.0) -> list[float]:
    """`points` noise levels from sigma_max down to sigma_min, spaced as Karras et al. (2022) propose."""
    ramp = torch.linspace(0, 1, max(points, 1), dtype=torch.float64)
    lo, hi = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    return ((hi + ramp * (lo - hi)) ** rho).tolist()


def _with_zero(sigmas: torch.Tensor) -> torch.Tensor:
    return torch.cat([sigmas.to(torch.float64), sigmas.new_zeros(1, dtype=torch.float64)])


def normal(ms: ModelSigmas, steps: int) -> torch.Tensor:
    t = torch.linspace(
        float(ms.timestep(ms.sigma_max)), float(ms.timestep(ms.sigma_min)), steps, dtype=torch.float64
    )
    return _with_zero(ms.sigma(t))


def sgm_uniform(ms: ModelSigmas, steps: int) -> torch.Tensor:
    t = torch.linspace(float(ms.timestep(ms.sigma_max)), float(ms.timestep(ms.sigma_min)), steps + 1)[:-1]
    return _with_zero(ms.sigma(t.to(torch.float64)))


def karras(ms: ModelSigmas, steps: int, rho: float = 7.0) -> torch.Tensor:
    return _with_zero(
        torch.tensor(karras_between(steps, ms.sigma_min, ms.sigma_max, rho), dtype=torch.float64)
    )


def exponential(ms: ModelSigmas, steps: int) -> torch.Tensor:
    return _with_zero(
        torch.linspace(math.log(ms.sigma_max), math.log(ms.sigma_min), steps, dtype=torch.float64).exp()
    )


def simple(ms: ModelSigmas, steps: int) -> torch.Tensor:
    stride = len(ms.table) / steps
    return _with_zero(torch.stack([ms.table[-(1 + int(i * stride))] for i in range(steps)]))


def ddim_uniform(ms: ModelSigmas, steps: int) -> torch.Tensor:
    stride = max(1, len(ms.table) // steps)
    picks = list(range(1, len(ms.table), stride))[::-1][:steps]
    return _with_zero(torch.stack([ms.table[i] for i in picks]))


def a1111_ddim(ms: ModelSigmas, steps: int) -> torch.Tensor:
    """AUTOMATIC1111's DDIM timesteps: 1, 1 + k, 1 + 2k, … below the table's length (k = length // steps, the
    top one clipped to the last timestep), highest first, with no zero after them. DDIM at eta 0 is the Euler
    step in this parameterisation (at eta 1 the ancestral Euler step), so the sampler steps from each level to
    the next lower one and stops at
    timestep 1's level; A1111 evaluates the model at every level but that last. The run is variance-preserving
    at both ends (`VARIANCE_PRESERVING`)."""
    n = len(ms.table)
    picks = (torch.arange(0, n, max(1, n // steps)) + 1).clamp(max=n - 1).flip(0)
    return ms.table[picks].to(torch.float64)


def a1111_unipc(ms: ModelSigmas, steps: int) -> torch.Tensor:
    """AUTOMATIC1111's UniPC times: as many levels as its DDIM has timesteps (S = ⌈1000 / (1000 // steps)⌉), UniPC
    run over S intervals of even time from timestep 999 to 0 (its `time_uniform` skip type), each level the σ of
    that fractional timestep with log α interpolated linearly between training timesteps (`vp_timestep`'s
    inverse), ending at timestep 0's level, not at zero. Variance-preserving at both ends."""
    n = len(ms.alphas_cumprod)
    levels = -(-n // max(1, n // steps))
    t = torch.linspace(n - 1, 0, levels + 1, dtype=torch.float64)
    log_alpha = ms.log_alpha
    lo = t.floor().long().clamp(max=n - 2)
    w = t - lo
    alpha_sq = torch.exp(2 * ((1 - w) * log_alpha[lo] + w * log_alpha[lo + 1]))
    return ((1 - alpha_sq) / alpha_sq).sqrt()


def turbo(ms: ModelSigmas, steps: int) -> torch.Tensor:
    if steps > 10:
        raise ValueError("the turbo schedule has at most 10 steps")
    picks = [len(ms.table) - 1 - 100 * i for i in range(steps)]
    return _with_zero(torch.stack([ms.table[i] for i in picks]))


def align_your_steps(ms: ModelSigmas, steps: int, family: str = "sdxl") -> torch.Tensor:
    base = torch.tensor(_AYS[family], dtype=torch.float64)
    if steps + 1 != len(base):  # log-linear resampling onto steps points
        xs = torch.linspace(0, 1, len(base), dtype=torch.float64)
        new_x = torch.linspace(0, 1, steps + 1, dtype=torch.float64)
        idx = torch.searchsorted(xs, new_x).clamp(1, len(xs) - 1)
        w = (new_x - xs[idx - 1]) / (xs[idx] - xs[idx - 1])
        logs = base.log()
        base = ((1 - w) * logs[idx - 1] + w * logs[idx]).exp()
    return _with_zero(base[:-1])


SCHEDULES: dict[str, Callable[..., torch.Tensor]] = {
    "normal": normal,
    "karras": karras,
    "exponential": exponential,
    "sgm_uniform": sgm_uniform,
    "simple": simple,
    "ddim_uniform": ddim_uniform,
    "turbo": turbo,
    "align_your_steps": align_your_steps,
    # Consistency-distilled models: sgm_uniform over the 50-timestep table (`DistilledSigmas`); `lcm`
    # also makes the denoiser apply LCM's boundary condition.
    "lcm": sgm_uniform,
    "tcd": sgm_uniform,
    "a1111_ddim": a1111_ddim,
    "a1111_unipc": a1111_unipc,
}
DISTILLED_SCHEDULES = frozenset({"lcm", "tcd"})
# Schedules run as AUTOMATIC1111's timestep samplers run: the start latent is unit noise at the first level in
# the variance-preserving form (× sqrt(1 + σ₀²) here, whatever σ₀), and the result is the latent at the last,
# non-zero level in that form (÷ sqrt(1 + σ_end²)), which is what A1111 decodes.
VARIANCE_PRESERVING = frozenset({"a1111_ddim", "a1111_unipc"})
# Schedules whose levels lie at fractional times of the log-α interpolation: an `interpolated` UNet timestep is
# read back with `vp_timestep` there (and with `timestep`, log-σ interpolation, everywhere else).
VP_TIME_SCHEDULES = frozenset({"a1111_unipc"})
# The only samplers each of those schedules runs with (contract/a1111_timesteps.py): A1111's DDIM at eta 0 is
# remgo's ddim (the Euler step), at eta 1 its euler_ancestral (DDIM's noise σ_t is the ancestral step's σ_up on the
# same two levels); its PLMS, which shares DDIM's timesteps and runs on no other schedule, remgo's plms; its UniPC
# (variant bh1, order 3, lower order at the end, its defaults) remgo's uni_pc.
SCHEDULE_SAMPLER = {name: samplers for name, (samplers, _, _) in SCHEDULE_SAMPLERS.items()}
# Names the contract knows that this kernel refuses, and why.
REFUSED_SCHEDULES = {
    "edm_playground_v2.5": "needs an EDM model (Playground v2.5); remgo loads epsilon-prediction SDXL and SD 1.5",
}


def fractional_timestep(ms: ModelSigmas, schedule_name: str, interpolated: bool):
    """σ → the UNet's fractional timestep for `unet_timestep: interpolated` (None: the nearest whole one), read
    back the way the schedule placed its levels: in log α on AUTOMATIC1111's UniPC times, else in log σ as
    k-diffusion (A1111's k samplers) and diffusers do."""
    if not interpolated:
        return None
    return ms.vp_timestep if schedule_name in VP_TIME_SCHEDULES else ms.timestep


def model_sigmas(name: str, config: dict) -> ModelSigmas:
    """The noise table a schedule is read from: the distilled one for lcm / tcd."""
    return DistilledSigmas(config) if name in DISTILLED_SCHEDULES else ModelSigmas(config)


def schedule(name: str, ms: ModelSigmas, steps: int, family: str = "sdxl") -> torch.Tensor:
    if name == "align_your_steps":
        return align_your_steps(ms, steps, family)
    return SCHEDULES[name](ms, steps)
