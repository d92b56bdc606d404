"""A checkpoint's own 9-channel inpainting UNet on the tiny SDXL inpainting model: the channels it gets besides
the latent, recorded on the UNet itself, equal diffusers' StableDiffusionXLInpaintPipeline `prepare_mask_latents`
for the same image and mask (in diffusers' order: latent, mask, masked-image latent); text to image on it gets
what A1111 gives an inpainting model without a mask (everything masked); pixels away from the mask are the
input's, as for any inpaint."""

from __future__ import annotations

from contextlib import contextmanager
from unittest import mock

import msgspec
import numpy as np
import pytest
import torch
from PIL import Image

from contract.events import FailureKind
from contract.image_input import A1111Inpaint, MaskedContent
from contract.task import ModelRef
from inference_worker.diffusers_kernel.image_input import a1111_inpaint, inpaint
from inference_worker.kernel import KernelError
from tests.inference_worker.diffusers_kernel.fidelity_models import run
from tests.inference_worker.diffusers_kernel.image_input.image_files import image_file, noise_image, output
from tests.tiny_models import tiny_inpainting

FEATHER = 32  # Fooocus's soft edge reaches 32 pixels off the mask


@pytest.fixture(scope="module")
def model(tiny_models) -> ModelRef:
    return ModelRef(name="tiny-sdxl-inpainting", path=tiny_inpainting(tiny_models, "sdxl"))


@contextmanager
def unet_inputs(kernel):
    """Every input the base UNet gets (the hook sees what the UNet itself receives)."""
    seen: list[torch.Tensor] = []
    handle = kernel._models.base.pipe.unet.register_forward_pre_hook(
        lambda _m, args: seen.append(args[0].detach().clone()))
    try:
        yield seen
    finally:
        handle.remove()


def diffusers_channels(pipe, image: np.ndarray, mask: np.ndarray) -> torch.Tensor:
    """[mask, masked-image latent] as diffusers' SDXL inpaint pipeline prepares them (its __call__'s steps:
    its processors, masked image = image · (mask < 0.5), prepare_mask_latents). One stated difference: the
    VAE posterior's mean where diffusers draws a sample from it (remgo encodes to the mean everywhere)."""
    from diffusers.pipelines.stable_diffusion_xl import pipeline_stable_diffusion_xl_inpaint as reference

    ref = reference.StableDiffusionXLInpaintPipeline.from_pipe(pipe)
    h, w = mask.shape
    init = ref.image_processor.preprocess(Image.fromarray(image), height=h, width=w).float()
    m = ref.mask_processor.preprocess(Image.fromarray(mask), height=h, width=w)
    with mock.patch.object(reference, "retrieve_latents", lambda out, generator=None: out.latent_dist.mode()):
        mask_latent, masked_latent = ref.prepare_mask_latents(
            m, init * (m < 0.5), 1, h, w, torch.float32, torch.device("cpu"), None, False)
    return torch.cat([mask_latent, masked_latent], dim=1)


def extra_channels(seen: list[torch.Tensor]) -> torch.Tensor:
    assert seen and all(x.shape[1] == 9 for x in seen)
    assert all(torch.equal(x[:, 4:], seen[0][:1, 4:].expand(x.shape[0], -1, -1, -1)) for x in seen)
    return seen[0][:1, 4:]


def test_fooocus_inpaint_feeds_diffusers_mask_and_masked_latent(kernel, make, model, monkeypatch) -> None:
    monkeypatch.setattr(inpaint, "WORKING_SHAPE_CEIL", 128)
    # the whole 128×128 image is the work (respective field 1, already at the working size); a mask on
    # 8-pixel blocks, so Fooocus's latent mask and diffusers' nearest resize agree by construction
    image = noise_image(128, 128, seed=3)
    mask = np.zeros((128, 128), np.uint8)
    mask[40:88, 48:80] = 255
    method = {"method": "inpaint", "image": image_file(image), "mask": image_file(mask), "respective_field": 1.0}
    task = make(base_model=model, width=128, height=128, steps=2, image_input=method)
    kernel.load(task, mock.Mock())
    with unet_inputs(kernel) as seen:
        result = run(kernel, task)
    expected = diffusers_channels(kernel._models.base.pipe, image, mask)
    torch.testing.assert_close(extra_channels(seen), expected, atol=1e-5, rtol=1e-5)
    assert "inpaint engine: none; the checkpoint's own 9-channel inpainting UNet ran" in result.warnings
    out = output(result)
    far = np.ones((128, 128), bool)
    far[40 - FEATHER : 88 + FEATHER, 48 - FEATHER : 80 + FEATHER] = False
    assert np.array_equal(out[far], image[far])


def _whole_picture_inpaint(image: np.ndarray, mask: np.ndarray, content: MaskedContent, denoise: float) -> dict:
    """A1111's inpainting over the whole picture, unblurred, at the image's size."""
    height, width = mask.shape
    steps = A1111Inpaint(blur_x=0, blur_y=0, content=content, only_masked=False, padding=0, round_mask=True,
                         width=width, height=height)
    return {"method": "inpaint", "image": image_file(image), "mask": image_file(mask), "denoise": denoise,
            "respective_field": 1.0, "a1111": msgspec.to_builtins(steps)}


def test_a1111_inpaint_feeds_diffusers_mask_and_masked_latent(kernel, make, model) -> None:
    # the whole picture, no blur: the mask the UNet reads is the request's, off the 8-pixel grid this time
    image = noise_image(96, 64, seed=4)
    mask = np.zeros((64, 96), np.uint8)
    mask[13:45, 30:77] = 255
    method = _whole_picture_inpaint(image, mask, MaskedContent.original, 0.75)
    task = make(base_model=model, width=96, height=64, steps=3, image_input=method)
    kernel.load(task, mock.Mock())
    with unet_inputs(kernel) as seen:
        result = run(kernel, task)
    expected = diffusers_channels(kernel._models.base.pipe, image, mask)
    torch.testing.assert_close(extra_channels(seen), expected, atol=1e-5, rtol=1e-5)
    assert any("AUTOMATIC1111's steps" in w and "own 9-channel inpainting UNet ran" in w for w in result.warnings)
    outside = a1111_inpaint.blur(mask, 0, 0) == 0
    assert np.array_equal(output(result)[outside], image[outside])


@pytest.mark.parametrize("vary", [False, True])
def test_text_to_image_and_vary_on_an_inpainting_unet_mask_everything(kernel, make, model, vary) -> None:
    # A1111 (txt2img_image_conditioning; img2img at its default mask weight 1) gives an inpainting model a
    # mask of ones and a mid-grey masked image; diffusers' pipeline with every pixel masked prepares that
    vary_input = {"image_input": {"method": "vary", "image": image_file(noise_image(96, 64, seed=8)),
                                  "denoise": 0.5}} if vary else {}
    task = make(base_model=model, width=96, height=64, steps=2, **vary_input)
    kernel.load(task, mock.Mock())
    with unet_inputs(kernel) as seen:
        result = run(kernel, task)
    assert output(result).shape == (64, 96, 3)
    anything = noise_image(96, 64, seed=5)
    expected = diffusers_channels(kernel._models.base.pipe, anything, np.full((64, 96), 255, np.uint8))
    got = extra_channels(seen)
    assert float(expected[:, 1:].abs().max()) > 0.1  # a latent, not nothing
    # A flat picture makes the VAE's first GroupNorm divide rounding noise by sqrt(eps): the two encodings
    # (one of a strided tensor, one of a contiguous one) agree to about 1e-4, not to float precision.
    torch.testing.assert_close(got, expected, atol=1e-3, rtol=0)
    assert torch.equal(got[:, :1], torch.ones_like(got[:, :1]))


def test_an_inpainting_checkpoint_is_refused_as_a_refiner(kernel, make, model, tiny_models) -> None:
    task = make(refiner={"name": "tiny-sdxl-inpainting", "path": model.path}, refiner_switch=0.5)
    with pytest.raises(KernelError) as err:
        run(kernel, task)
    assert err.value.kind is FailureKind.unsupported and err.value.field == "refiner"
    assert "inpainting checkpoint" in str(err.value)


def test_the_sd15_inpainting_variant_runs_an_inpaint(kernel, make, tiny_models) -> None:
    sd15 = ModelRef(name="tiny-sd15-inpainting", path=tiny_inpainting(tiny_models, "sd15"))
    image = noise_image(64, 64, seed=6)
    mask = np.zeros((64, 64), np.uint8)
    mask[16:48, 16:48] = 255
    method = _whole_picture_inpaint(image, mask, MaskedContent.fill, 1.0)
    task = make(base_model=sd15, width=64, height=64, steps=2, image_input=method,
                adm={"positive": 1.0, "negative": 1.0, "end": 0.0})
    result = run(kernel, task)
    out = output(result)
    assert np.array_equal(out[mask == 0], image[mask == 0])
    assert any("own 9-channel inpainting UNet ran" in w for w in result.warnings)
