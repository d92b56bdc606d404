"""Seamless tiling on the tiny models, proved by the property that defines it rather than by the mechanism.

With every convolution padding circularly, a model that treats every position alike commutes with a circular
shift of its input: the UNet's output for a latent rolled by k (k a multiple of its total downsampling) is its
output for the latent, rolled by k; the VAE decoder's image of a latent rolled by k is its image rolled by
k × its upscaling (8 for SD's VAEs). Zero padding breaks that at the borders, so each check also runs with
tiling off and must fail there. After the task, and after a task that is stopped or fails, the cached models
pad with zeros again: the same plain task gives the same bytes before and after a tiling task.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from contract.events import FailureKind
from inference_worker.diffusers_kernel.image_input import vae_io
from inference_worker.diffusers_kernel.loading.seamless import convolutions
from inference_worker.diffusers_kernel.sampling.guidance import joint_bilateral
from inference_worker.kernel import KernelError, StopRequested, check_image_method
from inference_worker.task_run import TaskRun
from tests.inference_worker.diffusers_kernel.fidelity_models import (
    build_fidelity_files,
    pixels,
    run,
)
from tests.inference_worker.diffusers_kernel.image_input.image_files import image_file, noise_image


class Sink:
    """A StepSink that can end the image at a given step, by a stop or by an error."""

    def __init__(self, end_at: int | None = None, error: BaseException | None = None) -> None:
        self.end_at, self.error, self.warnings = end_at, error, []

    def stage(self, stage) -> None:
        pass

    def step(self, step: int, steps_total: int, preview: bytes | None = None) -> None:
        if self.end_at is not None and step >= self.end_at:
            raise self.error or StopRequested()

    def wants_preview(self, step: int) -> bool:
        return False

    def warn(self, message: str) -> None:
        self.warnings.append(message)


def loaded(kernel, task):
    kernel.check(task)
    kernel.load(task, Sink())
    return kernel._require_models()


def every_conv(kernel) -> list:
    models = kernel._require_models()
    parts = [models.base.pipe.unet, models.base.pipe.vae]
    if models.refiner is not None:
        parts += [models.refiner.pipe.unet, models.refiner.pipe.vae]
    return convolutions(parts)


def unet_inputs(unet, height: int, width: int):
    gen = torch.Generator().manual_seed(3)
    cfg = unet.config
    x = torch.randn(1, cfg.in_channels, height, width, generator=gen)
    text = torch.randn(1, 5, cfg.cross_attention_dim, generator=gen)
    extra = {}
    if cfg.addition_embed_type == "text_time":  # SDXL: a pooled vector and six size ids, sized by the config
        pooled = cfg.projection_class_embeddings_input_dim - 6 * cfg.addition_time_embed_dim
        extra = {"text_embeds": torch.randn(1, pooled, generator=gen),
                 "time_ids": torch.tensor([[64.0, 64.0, 0.0, 0.0, 64.0, 64.0]])}
    return x, text, extra


def unet_roll_gap(unet, shift: tuple[int, int]) -> float:
    """max |UNet(roll(x)) − roll(UNet(x))| over a rectangular latent."""
    x, text, extra = unet_inputs(unet, 16, 24)
    t = torch.tensor(500.0)
    with torch.no_grad():
        plain = unet(x, t, encoder_hidden_states=text, added_cond_kwargs=extra).sample
        rolled = unet(torch.roll(x, shift, dims=(2, 3)), t, encoder_hidden_states=text, added_cond_kwargs=extra).sample
    return (rolled - torch.roll(plain, shift, dims=(2, 3))).abs().max().item()


def downsampling(unet) -> int:
    return 2 ** (len(unet.config.block_out_channels) - 1)


def vae_roll_gap(vae, shift: tuple[int, int]) -> float:
    """max |decode(roll(z, k)) − roll(decode(z), k × upscaling)|."""
    scale = 2 ** (len(vae.config.block_out_channels) - 1)
    z = torch.randn(1, vae.config.latent_channels, 8, 12, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        plain = vae.decode(z).sample
        rolled = vae.decode(torch.roll(z, shift, dims=(2, 3))).sample
    return (rolled - torch.roll(plain, (shift[0] * scale, shift[1] * scale), dims=(2, 3))).abs().max().item()


@pytest.fixture(scope="module")
def refiner_file(tiny_models):
    return build_fidelity_files(tiny_models).refiner_file


@pytest.fixture
def tiling_task(make, refiner_file):
    # A refiner with its own VAE (the `vae` swap decodes with it): both models must be covered.
    return make(tiling=True, refiner={"name": "tiny-refiner", "path": refiner_file}, refiner_switch=0.5,
                refiner_swap_method="vae")


@pytest.mark.parametrize("which", ["base", "refiner"])
def test_with_tiling_the_unet_commutes_with_a_circular_shift_and_without_it_does_not(kernel, make, tiling_task,
                                                                                      which):
    models = loaded(kernel, tiling_task)
    unet = getattr(models, which).pipe.unet
    k = downsampling(unet)
    shift = (k, 2 * k)
    off = unet_roll_gap(unet, shift)  # outside the task's block: zero padding
    with kernel.padding_for(tiling_task):
        on = unet_roll_gap(unet, shift)
    assert on < 1e-4, on
    assert off > 1e-2, off  # zero padding: the borders differ, so the check above can fail
    with kernel.padding_for(make()):  # a task without tiling pads with zeros inside its block too
        assert unet_roll_gap(unet, shift) == pytest.approx(off)


@pytest.mark.parametrize("which", ["base", "refiner"])
def test_with_tiling_the_vae_decoder_maps_a_latent_shift_to_an_image_shift(kernel, tiling_task, which):
    models = loaded(kernel, tiling_task)
    vae = getattr(models, which).pipe.vae
    off = vae_roll_gap(vae, (3, 5))
    with kernel.padding_for(tiling_task):
        on = vae_roll_gap(vae, (3, 5))
    assert on < 1e-4, on
    assert off > 1e-2, off


def test_after_the_block_every_convolution_pads_with_zeros_again(kernel, tiling_task):
    loaded(kernel, tiling_task)
    convs = every_conv(kernel)
    assert len(convs) > 20
    with kernel.padding_for(tiling_task):
        assert {c.padding_mode for c in convs} == {"circular"}
    assert {c.padding_mode for c in convs} == {"zeros"}


@pytest.mark.parametrize("ending", [StopRequested(), RuntimeError("the device fell over")])
def test_a_stopped_or_failed_tiling_image_leaves_zero_padding(kernel, make, ending):
    task = make(tiling=True, steps=4)
    loaded(kernel, task)
    with pytest.raises(type(ending)):
        kernel.generate_image(task, 0, 3, Sink(end_at=2, error=None if isinstance(ending, StopRequested) else ending))
    assert {c.padding_mode for c in every_conv(kernel)} == {"zeros"}


def test_a_plain_task_gives_the_same_bytes_before_and_after_a_tiling_task(kernel, make):
    before = pixels(kernel, make())
    tiled = pixels(kernel, make(tiling=True))
    after = pixels(kernel, make())
    assert after == before
    assert tiled != before  # the tiling task really ran with other padding


def test_an_upscale_with_tiling_runs_the_vae_on_the_whole_image_and_says_so(kernel, make, monkeypatch):
    """An Upscale encodes and decodes in tiles (as Fooocus does); tiles would each wrap at their own edges, so
    with tiling the VAE takes the whole image."""
    tiled_calls: list[bool] = []
    for name in ("encode", "decode"):
        real = getattr(vae_io, name)

        def spy(*args, _real=real, **kw):
            tiled_calls.append(kw.get("tiled", args[2] if len(args) > 2 else False))
            return _real(*args, **kw)

        monkeypatch.setattr(vae_io, name, spy)
    upscale = {"method": "upscale", "image": image_file(noise_image(40, 30)), "denoise": 0.4}
    plain = run(kernel, make(width=96, height=72, image_input=upscale))
    assert tiled_calls == [True, True] and not any("whole image" in w for w in plain.warnings)
    tiled_calls.clear()
    result = run(kernel, make(tiling=True, width=96, height=72, image_input=upscale))
    assert tiled_calls == [False, False] and len(result.images) == 1
    assert any("whole image at once" in w for w in result.warnings)


def test_a_tiled_vae_decode_inside_a_tiling_task_is_the_whole_image(kernel, make, monkeypatch):
    """Every caller's tiled decode (Upscale, large Vary, hires fix …) is whole while the VAE pads circularly."""
    task = make(tiling=True)
    vae = loaded(kernel, task).base.pipe.vae
    monkeypatch.setattr(vae, "tile_latent_min_size", 4)  # tile this small latent (8×12) in 4×4-latent tiles
    monkeypatch.setattr(vae, "tile_sample_min_size", 32)
    z = torch.randn(1, vae.config.latent_channels, 8, 12, generator=torch.Generator().manual_seed(8))

    def decoded(latent, tiled: bool) -> np.ndarray:
        return np.asarray(vae_io.decode(vae, latent, tiled=tiled), dtype=np.int16)

    assert np.abs(decoded(z, True) - decoded(z, False)).max() > 2  # the tiles show where they meet
    with kernel.padding_for(task):
        whole = decoded(z, False)
        assert np.array_equal(decoded(z, True), whole)
        shifted = decoded(torch.roll(z, (2, 3), (2, 3)), True)
    assert np.abs(shifted - np.roll(whole, (16, 24), (0, 1))).max() <= 1  # rounding to 8 bits only


def test_a_kernel_that_does_not_declare_tiling_refuses_it_by_name(kernel, make):
    class NoTiling:
        name = "no-tiling"

        def image_methods(self):
            return kernel.image_methods() - {"tiling"}

    check_image_method(kernel, make(tiling=True))  # the diffusers kernel declares it
    with pytest.raises(KernelError) as exc:
        check_image_method(NoTiling(), make(tiling=True))
    assert (exc.value.kind, exc.value.field) == (FailureKind.unsupported, "tiling")
    check_image_method(NoTiling(), make())  # a task without tiling is not its business


def test_the_fast_test_kernel_refuses_tiling_before_any_work(make):
    from bench.harness.worker_kernels import ColorKernel
    from inference_worker.kernel import KernelOptions

    color = ColorKernel(KernelOptions())
    with pytest.raises(KernelError) as exc:
        TaskRun(make(tiling=True), color, notify=lambda p: None).run()
    assert (exc.value.kind, exc.value.field) == (FailureKind.unsupported, "tiling")
    assert color.loaded_models() == []


def test_the_sharpness_filter_wraps_around_with_tiling():
    """A joint bilateral filter whose neighbourhood wraps commutes with a circular shift; one that reflects
    at the borders does not."""
    gen = torch.Generator().manual_seed(6)
    x, guide = torch.randn(1, 4, 16, 20, generator=gen), torch.randn(1, 4, 16, 20, generator=gen)
    shift = (5, 7)

    def gap(wrap: bool) -> float:
        rolled = joint_bilateral(torch.roll(x, shift, (2, 3)), torch.roll(guide, shift, (2, 3)), wrap)
        return (rolled - torch.roll(joint_bilateral(x, guide, wrap), shift, (2, 3))).abs().max().item()

    assert gap(True) < 1e-5
    assert gap(False) > 1e-2
