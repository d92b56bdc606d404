"""The SDE samplers' noise: one Brownian path per image, as Fooocus draws it.

The reference is torchsde's `BrownianInterval` queried directly, set up as Fooocus sets up its tree:
entropy = the image seed, the path over [smallest non-zero, largest] level of the image's schedule,
float32 on the CPU, resolved to 1e-6 on the dyadic ("halfway") tree with an entropy pool of 24 (the
defaults of torchsde's `BrownianTree`, which Fooocus uses); the noise for a step from σ_a to
σ_b is (W(σ_b) − W(σ_a)) / sqrt|σ_b − σ_a|.
"""

from __future__ import annotations

import pytest
import torch
import torchsde

from contract.task import ModelRef
from inference_worker.diffusers_kernel.sampling.noise import NoiseSource
from inference_worker.diffusers_kernel.sampling.samplers import SAMPLERS
from inference_worker.diffusers_kernel.sampling.sigmas import ModelSigmas, schedule
from tests.inference_worker.diffusers_kernel.fidelity_models import (
    build_fidelity_files,
    pixels,
)

# The reference is queried at the schedule's exact top level, which torchsde's rounding of its ends to 1e-6
# puts a hair outside: it clamps, as it does for Fooocus, and warns.
pytestmark = pytest.mark.filterwarnings("ignore:Should have t:UserWarning")

MS = ModelSigmas({"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear"})
SHAPE = (1, 4, 8, 8)
SDE_SAMPLERS = [f"dpmpp_{m}sde{gpu}" for m in ("", "2m_", "3m_") for gpu in ("", "_gpu")]


def _levels(sig) -> list[float]:
    return [float(s) for s in sig]


class TorchsdeNoise:
    """Fooocus's noise for one image, straight from torchsde; SDE samplers must draw no other noise."""

    def __init__(self, seed: int, sig) -> None:
        positive = [s for s in _levels(sig) if s > 0]
        self.path = torchsde.BrownianInterval(
            t0=min(positive), t1=max(positive), size=SHAPE, dtype=torch.float32, entropy=seed,
            tol=1e-6, pool_size=24, halfway_tree=True,
        )  # fmt: skip

    def increment(self, a: float, b: float) -> torch.Tensor:
        w = self.path(b, a) * -1.0 if a > b else self.path(a, b)  # W(b) − W(a)
        return w / abs(b - a) ** 0.5

    def brownian(self, like, sigmas):
        return self.increment

    def __call__(self, like):
        raise AssertionError("an SDE sampler drew fresh Gaussian noise instead of Brownian increments")


def test_increments_are_torchsdes_for_the_image_seed_and_schedule():
    sig = schedule("karras", MS, 10)
    s = _levels(sig)
    ours = NoiseSource(1234, span=sig).brownian(torch.zeros(SHAPE), sig)
    ref = TorchsdeNoise(1234, sig)
    mids = [(a * b) ** 0.5 for a, b in zip(s[:-2], s[1:-1], strict=True)]  # dpmpp_sde's sub-steps
    pairs = list(zip(s[:-2], s[1:-1], strict=True)) + list(zip(s[:-2], mids, strict=True))
    for a, b in pairs + [(b, a) for a, b in pairs]:
        torch.testing.assert_close(ours(a, b), ref.increment(a, b), rtol=1e-6, atol=1e-6)
    other = NoiseSource(1235, span=sig).brownian(torch.zeros(SHAPE), sig)
    assert not torch.allclose(other(s[0], s[1]), ours(s[0], s[1]))


def test_increments_add_up_over_sub_intervals():
    sig = schedule("karras", MS, 12)
    s = _levels(sig)
    path = NoiseSource(5, span=sig).brownian(torch.zeros(SHAPE), sig)

    def raw(a, b):  # W(b) − W(a)
        return path(a, b) * abs(b - a) ** 0.5

    for hi, mid, lo in [(s[0], s[3], s[7]), (s[2], (s[2] * s[3]) ** 0.5, s[3]), (s[1], s[6], s[10])]:
        torch.testing.assert_close(raw(hi, lo), raw(hi, mid) + raw(mid, lo), rtol=0, atol=1e-5)
    big = NoiseSource(6, span=sig).brownian(torch.zeros(32, 32, 32), sig)(s[4], s[5])  # normalised: N(0, 1)
    assert abs(float(big.mean())) < 0.02 and abs(float(big.std()) - 1.0) < 0.02


def test_one_path_whatever_the_step_count():
    # karras spans the model's whole table at any step count: the same seed walks the same path, so the
    # sum of a run's increments (from the top level down to the lowest) does not depend on `steps`.
    totals = []
    for steps in (8, 25):
        sig = schedule("karras", MS, steps)
        s = _levels(sig)[:-1]
        path = NoiseSource(9, span=sig).brownian(torch.zeros(SHAPE), sig)
        totals.append(sum(path(a, b) * (a - b) ** 0.5 for a, b in zip(s[:-1], s[1:], strict=True)))
    torch.testing.assert_close(totals[0], totals[1], rtol=0, atol=1e-4)


@pytest.mark.parametrize("name", SDE_SAMPLERS)
def test_sde_samplers_take_their_noise_from_the_brownian_path(name):
    sig = schedule("karras", MS, 8)
    start = torch.randn(SHAPE, generator=torch.Generator().manual_seed(0)) * float(sig[0])

    def denoise(x, s, i):
        return x / (1 + s * s)

    ours = SAMPLERS[name](denoise, start.clone(), sig, NoiseSource(77, span=sig), lambda i, x0: None)
    ref = SAMPLERS[name](denoise, start.clone(), sig, TorchsdeNoise(77, sig), lambda i, x0: None)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)


# ----- through the kernel --------------------------------------------------------------------------


@pytest.fixture
def trees(monkeypatch) -> list[tuple[float, float, int]]:
    """(t0, t1, entropy) of every Brownian tree built."""
    built: list[tuple[float, float, int]] = []
    real = torchsde.BrownianTree

    def spy(t0, w0, t1=None, entropy=None, **kwargs):
        built.append((float(t0), float(t1), entropy))
        return real(t0, w0, t1, entropy=entropy, **kwargs)

    monkeypatch.setattr(torchsde, "BrownianTree", spy)
    return built


def _span(kernel, task) -> tuple[float, float]:
    sig = _levels(kernel._schedule(task, kernel._prepared.base.sigmas, "sdxl"))
    return min(s for s in sig if s > 0), max(sig)


def test_the_kernel_seeds_one_tree_per_image_with_the_image_seed(kernel, make, trees):
    task = make(sampler="dpmpp_2m_sde_gpu", steps=6, seeds=[3, 4])
    first = pixels(kernel, task)
    assert trees == [(*_span(kernel, task), 3), (*_span(kernel, task), 4)]
    assert first[0] != first[1]
    assert pixels(kernel, make(sampler="dpmpp_2m_sde_gpu", steps=6, seeds=[3, 4], task_id="again")) == first


@pytest.mark.parametrize("method", ["separate", "vae"])
def test_a_refiner_run_stays_on_the_images_path(kernel, make, tiny_models, trees, method):
    # As Fooocus's per-image tree: the refiner's run (seed + 1 for its fresh noise in `vae`) queries the
    # same path, over the base's whole schedule, not a tree of its own.
    refiner = ModelRef(name="tiny-refiner", path=build_fidelity_files(tiny_models).refiner_file)
    task = make(sampler="dpmpp_sde", steps=6, seeds=[5], refiner=refiner, refiner_swap_method=method)
    pixels(kernel, task)
    assert trees == [(*_span(kernel, task), 5)]

