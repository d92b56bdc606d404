"""Previews from a latent → RGB projection fitted to the model's VAE; stop and skip with every knob on."""

from __future__ import annotations

import io
from types import SimpleNamespace

import pytest
import torch
from PIL import Image

from contract.events import Stage
from contract.rpc import StopMode
from contract.task import AdmScalers, FreeU, LoraSpec, ModelRef, PreviewSettings
from inference_worker.diffusers_kernel.previews import _test_card, fit_projection, latent_preview, project
from inference_worker.task_run import TaskRun
from tests.inference_worker.diffusers_kernel.fidelity_models import (
    build_fidelity_files,
    task_builder,
)


class LinearVae(torch.nn.Module):
    """A stand-in VAE whose encoder is a known affine map of each 8×8 block's mean colour."""

    def __init__(self) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(4)
        self.weight = torch.randn(4, 3, generator=gen)
        self.bias = torch.randn(4, generator=gen)
        self.config = SimpleNamespace(scaling_factor=0.5, shift_factor=None)
        self.anchor = torch.nn.Parameter(torch.zeros(1))  # gives the module a device and dtype

    @property
    def device(self):
        return self.anchor.device

    @property
    def dtype(self):
        return self.anchor.dtype

    def encode(self, image):
        pooled = torch.nn.functional.avg_pool2d(image, 8)  # [1, 3, h/8, w/8]
        mean = torch.einsum("oc,bchw->bohw", self.weight, pooled) + self.bias[None, :, None, None]
        return SimpleNamespace(latent_dist=SimpleNamespace(mean=mean))


def test_the_fitted_projection_inverts_a_linear_encoder():
    vae = LinearVae()
    image, colours = _test_card()
    latents = vae.encode(image).latent_dist.mean * 0.5
    matrix = fit_projection(latents, colours)
    rgb = project(latents, matrix).float()  # [h, w, 3] in 0…255, one pixel per 8×8 block
    expected = (image[0].permute(1, 2, 0)[::8, ::8] + 1) * 127.5
    assert torch.allclose(rgb, expected, atol=1.0)


def test_a_preview_shows_the_colour_its_latent_encodes():
    vae = LinearVae()
    red = torch.zeros(1, 3, 64, 64)
    red[:, 0] = 1.0
    red[:, 1:] = -1.0
    latent = vae.encode(red).latent_dist.mean * 0.5
    data = latent_preview(latent, PreviewSettings(max_side=32, quality=95), vae)
    img = Image.open(io.BytesIO(data))
    assert img.format == "JPEG" and img.size == (32, 32)
    r, g, b = torch.tensor(list(img.tobytes()), dtype=torch.float32).reshape(-1, 3).mean(dim=0).tolist()
    assert r > 230 and g < 25 and b < 25


# ----- stop and skip with everything on ------------------------------------------------------------


@pytest.fixture(scope="module")
def everything(tiny_models):
    files = build_fidelity_files(tiny_models)
    make = task_builder(tiny_models)

    def build(**fields):
        return make(
            seeds=[3, 4], steps=6, sampler="dpmpp_sde", guidance_scale=9.0, adaptive_cfg=5.0, sharpness=20.0,
            adm=AdmScalers(positive=1.5, negative=0.8, end=0.5), freeu=FreeU(enabled=True),
            loras=[LoraSpec(name="p", path=files.lora_peft, weight=0.8)],
            refiner=ModelRef(name="r", path=files.refiner_file), refiner_switch=0.5,
            preview=PreviewSettings(enabled=True, every_n_steps=1, max_side=32), **fields,
        )  # fmt: skip

    return build


def _run_until(kernel, task, at_image: int, at_step: int, mode: StopMode):
    notes = []
    counts = []

    def notify(progress):
        notes.append(progress)
        if progress.image_index == at_image and progress.step == at_step and progress.preview is not None:
            prepared = kernel._prepared
            counts.append(prepared.base.evaluations + prepared.refiner.evaluations)
            run.request_stop(mode)

    kernel.check(task)
    run = TaskRun(task, kernel, notify)
    result = run.run()
    after = kernel._prepared.base.evaluations + kernel._prepared.refiner.evaluations
    return result, notes, counts[0], after


@pytest.mark.parametrize("method", ["joint", "vae"])
def test_stop_lands_within_the_step(kernel, everything, method):
    task = everything(refiner_swap_method=method)
    result, notes, at_request, after = _run_until(kernel, task, 0, 4, StopMode.stop)
    assert result.stopped and result.images == []
    assert after == at_request  # not one more model evaluation
    assert max(n.step for n in notes if n.stage in (Stage.sampling, Stage.refining)) == 4


def test_skip_drops_only_the_current_image(kernel, everything):
    task = everything(refiner_swap_method="separate")
    result, notes, at_request, after = _run_until(kernel, task, 0, 2, StopMode.skip)
    assert result.skipped == [0] and [i.index for i in result.images] == [1] and not result.stopped
    refining = [n for n in notes if n.image_index == 1 and n.stage is Stage.refining and n.preview]
    assert refining and all(Image.open(io.BytesIO(n.preview)).size == (32, 32) for n in refining)
