"""Where a sampler's randomness comes from: one CPU generator per image, so a seed means one image.

`NoiseSource(like)` draws fresh Gaussian noise. The SDE samplers (dpmpp_sde, dpmpp_2m_sde, dpmpp_3m_sde
and their `_gpu` names) take theirs from `brownian(like, sigmas)` instead: normalised increments of one
Brownian motion over the noise levels, so sub-steps over overlapping intervals get consistent noise. As
in Fooocus there is one path per image, a torchsde `BrownianTree` whose entropy is the image seed and
which spans the image's whole schedule (`span`: its smallest non-zero level to its largest). It lives on
the latents' device in float32, where Fooocus puts it for every sampler (its patched noise sampler ignores
the `_gpu` suffix): on a GPU the path follows that device's random generator, as Fooocus's does, and costs
no transfer per step.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

Schedule = Sequence[float] | torch.Tensor
_TOL, _DIGITS = 1e-6, 6  # torchsde BrownianTree's default tolerance (Fooocus keeps it) and its digits


def _levels(sigmas: Schedule) -> tuple[float, float]:
    """(smallest non-zero, largest) noise level of a schedule: the range a Brownian path must cover."""
    values = [float(v) for v in sigmas]
    positive = [v for v in values if v > 0]
    if not positive:
        raise ValueError("a schedule without a non-zero noise level has no Brownian range")
    return min(positive), max(values)


class BrownianNoise:
    """(W(b) − W(a)) / sqrt|b − a| for one Brownian motion W over the noise levels [lo, hi].

    A level outside [lo, hi] counts as the nearest end (torchsde's rule, which Fooocus inherits: the vae
    refiner swap's 1.4× levels can pass the top). The tree is built on the first query."""

    def __init__(self, seed: int, like: torch.Tensor, lo: float, hi: float) -> None:
        self.seed, self.shape, self.device = seed, tuple(like.shape), like.device
        self.lo, self.hi = lo, hi
        self._tree = None
        # torchsde resolves the path, its ends included, to the tolerance's digits; clamping to the rounded
        # ends here gives what it would clamp to, without its warning
        self._ends = (round(lo, _DIGITS), round(hi, _DIGITS))

    def _query(self, lo: float, hi: float) -> torch.Tensor:
        if self._tree is None:
            import torchsde  # only the SDE samplers need it

            w0 = torch.zeros(self.shape, dtype=torch.float32, device=self.device)
            self._tree = torchsde.BrownianTree(t0=self.lo, w0=w0, t1=self.hi, entropy=self.seed, tol=_TOL)
        return self._tree(lo, hi)

    def __call__(self, sigma_a: float, sigma_b: float) -> torch.Tensor:
        a, b = float(sigma_a), float(sigma_b)
        lo, hi = (min(max(v, self._ends[0]), self._ends[1]) for v in sorted((a, b)))
        if hi <= lo:
            return torch.zeros(self.shape, dtype=torch.float32, device=self.device)
        w = self._query(lo, hi) * (1.0 if b > a else -1.0)
        return w / abs(b - a) ** 0.5


def variation_slerp(strength: float, noise: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
    """AUTOMATIC1111's variation: `noise` turned towards `other` by `strength` along the great circle, for one
    image's (channels, height, width) noise. As A1111 computes it, the angle is taken per channel and column
    (the vectors run down the image's height); where the two are almost parallel (mean cosine > 0.9995) A1111
    blends linearly, giving `noise` the weight `strength`, and so does this."""
    unit_a = noise / noise.norm(dim=1, keepdim=True)
    unit_b = other / other.norm(dim=1, keepdim=True)
    cosine = (unit_a * unit_b).sum(dim=1)
    if cosine.mean() > 0.9995:
        return noise * strength + other * (1 - strength)
    angle = torch.acos(cosine)
    sine = torch.sin(angle)
    return ((torch.sin((1 - strength) * angle) / sine).unsqueeze(1) * noise
            + (torch.sin(strength * angle) / sine).unsqueeze(1) * other)


class NoiseSource:
    def __init__(self, seed: int, device: torch.device | str = "cpu", span: Schedule | None = None,
                 variation: tuple[int, float] | None = None) -> None:
        """`span`: the image's whole schedule, which the Brownian path covers (else the first sampler's).
        `variation`: (variation seed, strength) that the starting noise is turned towards (AUTOMATIC1111's)."""
        self.generator = torch.Generator("cpu").manual_seed(seed)
        self.variation = variation
        self.device = torch.device(device)
        self.tree_seed = seed
        self.span = None if span is None else _levels(span)
        self._brownian: BrownianNoise | None = None

    def __call__(self, like: torch.Tensor) -> torch.Tensor:
        return torch.randn(like.shape, generator=self.generator, dtype=torch.float32).to(like.device)

    def start(self, shape: tuple[int, ...], sigma: float) -> torch.Tensor:
        """The starting latent: unit noise × the first noise level. With a variation, the seed's draw turned
        towards the variation seed's first draw, image by image (the fresh noise after it stays the seed's)."""
        noise = torch.randn(shape, generator=self.generator, dtype=torch.float32)
        if self.variation is not None:
            other_seed, strength = self.variation
            other = torch.randn(shape, generator=torch.Generator("cpu").manual_seed(other_seed), dtype=torch.float32)
            noise = torch.stack([variation_slerp(strength, a, b) for a, b in zip(noise, other, strict=True)])
        return noise.to(self.device) * sigma

    def brownian(self, like: torch.Tensor, sigmas: Schedule) -> BrownianNoise:
        """The image's Brownian path for latents like `like`; `sigmas` is the calling sampler's."""
        if self._brownian is None:
            lo, hi = self.span or _levels(sigmas)
            self._brownian = BrownianNoise(self.tree_seed, like, lo, hi)
        elif self._brownian.shape != tuple(like.shape):
            raise ValueError(f"Brownian noise for {self._brownian.shape} asked for {tuple(like.shape)}")
        return self._brownian

    def reseeded(self, seed: int) -> NoiseSource:
        """Fresh Gaussian noise from `seed`, the same Brownian path (Fooocus's vae refiner swap: seed + 1
        for the refiner's start and ancestral noise, the image's tree for SDE noise)."""
        other = NoiseSource(seed, self.device)
        other.tree_seed, other.span, other._brownian = self.tree_seed, self.span, self._brownian
        return other
