"""Where a sampler's randomness comes from: one CPU generator per image, so a seed means one image.

`NoiseSource(like)` draws fresh Gaussian noise. `between(like, a, b)` is the normalised Brownian
increment between noise levels a and b, for samplers that take several sub-steps whose noise must be
consistent with each other (dpmpp_sde): increments over overlapping intervals are correlated as a
Brownian motion's are. The tree behind it (torchsde) is built on first use from a seed drawn from the
same generator, so samplers that never ask for it draw exactly the noise they always did.
"""

from __future__ import annotations

import torch


class NoiseSource:
    def __init__(self, seed: int, device: torch.device | str = "cpu") -> None:
        self.generator = torch.Generator("cpu").manual_seed(seed)
        self.device = torch.device(device)
        self._tree = None
        self._tree_shape: tuple[int, ...] | None = None

    def __call__(self, like: torch.Tensor) -> torch.Tensor:
        return torch.randn(like.shape, generator=self.generator, dtype=torch.float32).to(like.device)

    def start(self, shape: tuple[int, ...], sigma: float) -> torch.Tensor:
        """The starting latent: unit noise × the first noise level."""
        return torch.randn(shape, generator=self.generator, dtype=torch.float32).to(self.device) * sigma

    def _brownian(self, like: torch.Tensor, lo: float, hi: float):
        if self._tree is None or self._tree_shape != tuple(like.shape):
            import torchsde

            entropy = int(torch.randint(0, 2**62, (1,), generator=self.generator))
            w0 = torch.zeros(like.shape, dtype=torch.float32)
            # A little beyond the range asked for: the tree refuses queries outside [t0, t1].
            self._tree = torchsde.BrownianTree(
                t0=0.0, w0=w0, t1=max(hi, 1.0) * 1.5, entropy=entropy, tol=1e-6
            )
            self._tree_shape = tuple(like.shape)
        return self._tree

    def between(self, like: torch.Tensor, sigma_a: float, sigma_b: float) -> torch.Tensor:
        lo, hi = sorted((float(sigma_a), float(sigma_b)))
        if hi <= lo:
            return torch.zeros_like(like)
        tree = self._brownian(like, lo, hi)
        increment = tree(lo, hi) / (hi - lo) ** 0.5
        return increment.to(like.device, torch.float32)
