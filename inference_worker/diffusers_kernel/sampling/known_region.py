"""Inpainting's known region: outside the mask the latent stays the original's at every model evaluation.

As Fooocus's inpaint sampling does it: before each evaluation the latent outside the (latent-size) mask is
replaced by the original's latent plus fresh noise at the current level, and the estimate there by the
original's latent, so the sampler only ever changes the masked area. The fresh noise has its own CPU
generator seeded `seed + 1`, apart from the image's sampling noise.
"""

from __future__ import annotations

import torch

from contract.task import MAX_SEED


class KnownRegion:
    def __init__(self, latent: torch.Tensor, mask: torch.Tensor, seed: int) -> None:
        """`latent`: the original's latent; `mask`: 1 where the model repaints, 0 where the original stays."""
        self.latent, self.mask = latent, mask
        self.generator = torch.Generator("cpu").manual_seed((seed + 1) % MAX_SEED)

    def noised(self, x: torch.Tensor, sigma: float) -> torch.Tensor:
        energy = torch.randn(x.shape, generator=self.generator, dtype=torch.float32).to(x.device) * sigma
        return x * self.mask + (self.latent + energy) * (1.0 - self.mask)

    def keep(self, x0: torch.Tensor) -> torch.Tensor:
        return x0 * self.mask + self.latent * (1.0 - self.mask)
