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


def _spatial_weights() -> list[float]:
    r = torch.arange(KERNEL, dtype=torch.float64) - KERNEL // 2
    return torch.exp(-(r**2) / (2 * SIGMA_SPACE**2)).tolist()


def joint_bilateral(x: torch.Tensor, guide: torch.Tensor, wrap: bool = False) -> torch.Tensor:
    """Each pixel of `x` → the average of its 13×13 neighbourhood, weighted by distance and by how close
    (L1 over channels) the neighbour's `guide` value is to its own. Reflect padding at the borders; with
    `wrap` (seamless tiling) the neighbourhood runs on across the opposite border instead.

    One pass per neighbour offset (169 small passes) rather than one unfolded tensor: 13× faster on a
    CPU and without the unfold's 169-fold copy of the latent."""
    _, _, h, w = x.shape
    pad = KERNEL // 2
    mode = "circular" if wrap else "reflect" if min(h, w) > pad else "replicate"
    xp = F.pad(x, (pad, pad, pad, pad), mode=mode)
    gp = F.pad(guide, (pad, pad, pad, pad), mode=mode)
    space = _spatial_weights()
    colour = -0.5 / SIGMA_COLOR**2
    num, den = torch.zeros_like(x), torch.zeros_like(x[:, :1])
    for i in range(KERNEL):
        for j in range(KERNEL):
            distance = (gp[:, :, i : i + h, j : j + w] - guide).abs().sum(dim=1, keepdim=True)
            weight = torch.exp(distance.square_().mul_(colour)).mul_(space[i] * space[j])
            num.addcmul_(xp[:, :, i : i + h, j : j + w], weight)
            den.add_(weight)
    return num / den


def anisotropic_filter(x: torch.Tensor, guide: torch.Tensor, wrap: bool = False) -> torch.Tensor:
    """`joint_bilateral` with the guide standardised per image (so colour distances are scale-free)."""
    std, mean = torch.std_mean(guide, dim=(1, 2, 3), keepdim=True)
    return joint_bilateral(x, (guide - mean) / (std + 1e-5), wrap)


@dataclass(frozen=True)
class Guidance:
    scale: float
    sharpness: float = 0.0
    adaptive: float = 30.0  # mimicked scale; inactive while scale <= adaptive
    wrap: bool = False  # seamless tiling: the sharpness filter wraps around the borders

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
            eps_pos = anisotropic_filter(eps_pos, x0_pos, self.wrap) * alpha + eps_pos * (1 - alpha)
        eps = eps_neg + self.scale * (eps_pos - eps_neg)
        if self.scale > self.adaptive:
            mimicked = eps_neg + self.adaptive * (eps_pos - eps_neg)
            eps = eps * progress + mimicked * (1 - progress)
        return x - eps
