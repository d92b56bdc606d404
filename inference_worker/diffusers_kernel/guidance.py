"""Combining the positive and negative predictions: CFG, Fooocus's sharpness and adaptive CFG.

Everything is computed on eps = x − x0 (noise at the current level), as Fooocus does:

- **Sharpness** (anisotropic guidance): the positive eps is blended toward a joint-bilateral-filtered
  copy of itself whose edges follow the positive x0 estimate, with weight 0.001 × sharpness × progress.
  Filtering the noise prediction where the image is flat, and not across its edges, leaves detail at
  the edges to the model: the result reads sharper.
- **Adaptive CFG**: when the guidance scale exceeds `adaptive_cfg`, the real-CFG eps is mixed with the
  eps that guidance `adaptive_cfg` would give, by progress: early steps look like the milder guidance,
  late steps like the real one. That keeps very high guidance from burning the image.
- `progress` is 1 − t/999 for the model timestep t of the current noise level (0 at pure noise).
- Guidance 1 has no negative prediction at all (the caller skips that pass), so neither applies.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

KERNEL = 13
SIGMA_SPACE = 3.0
SIGMA_COLOR = 3.0


def _spatial_weights(device, dtype) -> torch.Tensor:
    x = torch.arange(KERNEL, dtype=torch.float64) - (KERNEL - 1) / 2
    g = torch.exp(-(x**2) / (2 * SIGMA_SPACE**2))
    return (g[:, None] * g[None, :]).reshape(1, KERNEL * KERNEL, 1, 1).to(device, dtype)


def joint_bilateral(x: torch.Tensor, guide: torch.Tensor) -> torch.Tensor:
    """Each pixel of `x` → the average of its 13×13 neighbourhood, weighted by distance and by how close
    (L1 over channels) the neighbour's `guide` value is to its own. Reflect padding at the borders."""
    b, c, h, w = x.shape
    pad = KERNEL // 2
    mode = "reflect" if min(h, w) > pad else "replicate"
    xp = F.pad(x, (pad, pad, pad, pad), mode=mode)
    gp = F.pad(guide, (pad, pad, pad, pad), mode=mode)
    xu = F.unfold(xp, KERNEL).reshape(b, c, KERNEL * KERNEL, h, w)
    gu = F.unfold(gp, KERNEL).reshape(b, guide.shape[1], KERNEL * KERNEL, h, w)
    distance = (gu - guide.unsqueeze(2)).abs().sum(dim=1)  # [b, k², h, w]
    weights = torch.exp(-0.5 * (distance / SIGMA_COLOR) ** 2) * _spatial_weights(x.device, x.dtype)
    return (xu * weights.unsqueeze(1)).sum(dim=2) / weights.sum(dim=1, keepdim=True)


def anisotropic_filter(x: torch.Tensor, guide: torch.Tensor) -> torch.Tensor:
    """`joint_bilateral` with the guide standardised per image (so colour distances are scale-free)."""
    std, mean = torch.std_mean(guide, dim=(1, 2, 3), keepdim=True)
    return joint_bilateral(x, (guide - mean) / (std + 1e-5))


@dataclass(frozen=True)
class Guidance:
    scale: float
    sharpness: float = 0.0
    adaptive: float = 30.0  # mimicked scale; inactive while scale <= adaptive

    @property
    def uses_negative(self) -> bool:
        return self.scale != 1.0

    def sharpness_weight(self, progress: float) -> float:
        return 0.001 * self.sharpness * progress

    def combine(
        self, x: torch.Tensor, x0_pos: torch.Tensor, x0_neg: torch.Tensor | None, progress: float
    ) -> torch.Tensor:
        """The guided x0 estimate."""
        if x0_neg is None:
            return x0_pos
        eps_pos, eps_neg = x - x0_pos, x - x0_neg
        alpha = self.sharpness_weight(progress)
        if alpha > 0:
            eps_pos = anisotropic_filter(eps_pos, x0_pos) * alpha + eps_pos * (1 - alpha)
        eps = eps_neg + self.scale * (eps_pos - eps_neg)
        if self.scale > self.adaptive:
            mimicked = eps_neg + self.adaptive * (eps_pos - eps_neg)
            eps = eps * progress + mimicked * (1 - progress)
        return x - eps
