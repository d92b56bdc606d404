"""AUTOMATIC1111's inpainting steps (contract A1111Inpaint): the crop box against cases worked out by hand from
A1111's rules, the blur against OpenCV's GaussianBlur at the kernel sizes A1111 sets, the overlay and the fill
in closed form, and whole tasks on the tiny SDXL."""

from __future__ import annotations

import io

import cv2
import msgspec
import numpy as np
import pytest
import torch
from PIL import Image

from contract.events import FailureKind
from contract.image_input import A1111Inpaint, Inpaint, InputImage, MaskedContent
from inference_worker.diffusers_kernel.image_input import a1111_inpaint as a1111
from inference_worker.diffusers_kernel.image_input import a1111_latents
from inference_worker.kernel import KernelError
from tests.inference_worker.diffusers_kernel.fidelity_models import run
from tests.inference_worker.diffusers_kernel.image_input.image_files import (
    image_file,
    noise_image,
    output,
    recording,
    square_mask,
)


def _steps(**fields) -> A1111Inpaint:
    base = dict(blur_x=4, blur_y=4, content=MaskedContent.fill, only_masked=True, padding=0, round_mask=True,
                width=64, height=64)
    return A1111Inpaint(**{**base, **fields})


def _rect_mask(w: int, h: int, x1: int, y1: int, x2: int, y2: int) -> np.ndarray:
    mask = np.zeros((h, w), np.uint8)
    mask[y1:y2, x1:x2] = 255
    return mask


# ----- the crop box: mask box + padding (clamped), grown to the working aspect, kept inside the image -----

@pytest.mark.parametrize(("image", "rect", "padding", "work", "expected"), [
    # 80×30 box + 32 → (68, 18, 212, 112), 144×94; square work: height grows by 50, 25 above (past the top:
    # slid down to 0) → (68, 0, 212, 144)
    ((300, 200), (100, 50, 180, 80), 32, (128, 128), (68, 0, 212, 144)),
    # 10×10 at the bottom edge, work aspect 1:2: height grows by 10 → 185…205, past 200: slid up to 180…200
    ((300, 200), (280, 190, 290, 200), 0, (64, 128), (280, 180, 290, 200)),
    # 10×80, work 2:1: width wants 160 in a 100-wide image: slid and clamped to the whole width
    ((100, 100), (45, 10, 55, 90), 0, (512, 256), (0, 10, 100, 90)),
    # padding stops at the image's corner; a square box for a square work stays as it is
    ((100, 100), (0, 0, 10, 10), 16, (64, 64), (0, 0, 26, 26)),
    # 10×7 for a 4:3 work wants height 7.5: the growth 0.5 truncates to nothing
    ((100, 100), (20, 20, 30, 27), 0, (64, 48), (20, 20, 30, 27)),
    # odd growth: 20×10 box, square work → 10 more rows, 5 above and 5 below
    ((100, 100), (40, 40, 60, 50), 0, (64, 64), (40, 35, 60, 55)),
    # odd growth of 11: the odd row goes below (5 above, 6 below)
    ((100, 100), (40, 40, 61, 50), 0, (64, 64), (40, 35, 61, 56)),
])
def test_the_crop_box_follows_a1111s_rules(image, rect, padding, work, expected) -> None:
    mask = _rect_mask(*image, *rect)
    box = a1111.mask_box(mask, padding)
    assert a1111.expand_to_aspect(box, *work, *image) == expected


def test_a_blank_mask_has_no_box() -> None:
    assert a1111.mask_box(np.zeros((40, 40), np.uint8), 8) is None


# ----- the blur: OpenCV's Gaussian, across then down, at A1111's kernel sizes ---------------------------

@pytest.mark.parametrize(("sigma", "size"), [(1, 7), (2, 11), (3, 17), (4, 21), (6, 31), (10, 51), (64, 321)])
def test_kernel_sizes(sigma, size) -> None:
    # A1111: 2 · int(2.5 · sigma + 0.5) + 1, worked out by hand
    assert a1111.blur_kernel_size(sigma) == size


def test_the_blur_is_opencvs_gaussian_across_then_down() -> None:
    mask = _rect_mask(120, 90, 30, 20, 70, 50)
    mask[60:62, 90:110] = 200  # a grey stroke too: grey levels are kept
    expected = cv2.GaussianBlur(cv2.GaussianBlur(mask, (21, 1), 4), (1, 31), 6)
    assert np.array_equal(a1111.blur(mask, 4, 6), expected)
    assert np.array_equal(a1111.blur(mask, 3, 0), cv2.GaussianBlur(mask, (17, 1), 3))
    assert np.array_equal(a1111.blur(mask, 0, 0), mask)


def test_the_blur_is_a_gaussian_of_that_sigma() -> None:
    # independent of OpenCV: a 1-pixel line blurred across is the sampled Gaussian profile, normalised
    mask = np.zeros((5, 81), np.uint8)
    mask[:, 40] = 255
    sigma, half = 4, 10
    x = np.arange(-half, half + 1)
    weights = np.exp(-(x**2) / (2 * sigma**2))
    profile = 255 * weights / weights.sum()
    got = a1111.blur(mask, sigma, 0)[2, 40 - half : 40 + half + 1].astype(np.float64)
    assert np.abs(got - profile).max() <= 1.0
    assert not a1111.blur(mask, sigma, 0)[2, : 40 - half].any()  # nothing beyond the kernel


# ----- the overlay and the fill, in closed form ---------------------------------------------------------

@pytest.mark.parametrize("only_masked", [True, False])
def test_pixels_where_the_blurred_mask_is_zero_are_the_inputs(only_masked) -> None:
    image = noise_image(160, 120)
    steps = _steps(only_masked=only_masked, padding=8, width=64 if only_masked else 160,
                   height=64 if only_masked else 120)
    area = a1111.prepare(image, _rect_mask(160, 120, 60, 40, 90, 70), steps, invert=False)
    result = Image.fromarray(noise_image(*area.work_size, seed=5))
    out = np.asarray(area.paste(result))
    blurred = a1111.blur(_rect_mask(160, 120, 60, 40, 90, 70), 4, 4)
    outside = blurred == 0
    assert outside.mean() > 0.5 and np.array_equal(out[outside], image[outside])
    if not only_masked:  # the whole picture's overlay uses the mask doubled: from 128 on, the result alone
        shown = blurred >= 128
        assert shown.any() and np.array_equal(out[shown], np.asarray(result)[shown])


def test_only_masked_works_on_the_box_and_puts_the_result_back_in_it() -> None:
    image = noise_image(300, 200)
    steps = _steps(blur_x=0, blur_y=0, padding=32, width=128, height=128, content=MaskedContent.original)
    area = a1111.prepare(image, _rect_mask(300, 200, 100, 50, 180, 80), steps, invert=False)
    assert area.box == (68, 0, 212, 144) and area.work_size == (128, 128)
    # the work is the box resized to 128² (144² → 128², a plain Lanczos resize: same aspect)
    box = Image.fromarray(image[0:144, 68:212]).resize((128, 128), Image.Resampling.LANCZOS)
    assert np.array_equal(area.work_image, np.asarray(box))
    grey = Image.new("RGB", (128, 128), (10, 200, 30))
    out = np.asarray(area.paste(grey))
    assert (out[50:80, 100:180] == (10, 200, 30)).all()  # the mask (no blur): the result, resized back
    keep = np.ones((200, 300), bool)
    keep[50:80, 100:180] = False
    assert np.array_equal(out[keep], image[keep])


def test_inverted_masks_repaint_the_other_side() -> None:
    image = noise_image(64, 64)
    steps = _steps(blur_x=0, blur_y=0, only_masked=False, content=MaskedContent.original)
    area = a1111.prepare(image, _rect_mask(64, 64, 0, 0, 64, 32), steps, invert=True)
    out = np.asarray(area.paste(Image.new("RGB", (64, 64), (0, 0, 0))))
    assert np.array_equal(out[:32], image[:32]) and not out[32:].any()


def test_fill_keeps_the_unmasked_pixels_and_brings_the_colour_around_into_the_hole() -> None:
    image = np.zeros((96, 96, 3), np.uint8)
    image[:] = (40, 120, 220)
    image[32:64, 32:64] = (255, 0, 0)  # what the mask hides
    mask = _rect_mask(96, 96, 32, 32, 64, 64)
    filled = a1111.fill(image, mask)
    assert np.array_equal(filled[mask == 0], image[mask == 0])
    # the red it hid is gone; the colour around comes in within the rounding of premultiplied 8-bit alpha
    assert np.abs(filled[32:64, 32:64].astype(int) - (40, 120, 220)).max() <= 6


def test_the_latent_mask_is_the_blurred_mask_at_latent_size_rounded() -> None:
    mask = _rect_mask(64, 64, 16, 16, 48, 48)
    rounded = a1111_latents.latent_mask(mask, True)
    assert rounded.shape == (1, 1, 8, 8)
    expected = np.zeros((8, 8))
    expected[2:6, 2:6] = 1  # 8×8 blocks wholly inside or outside: bicubic keeps 1 and 0 there
    assert np.array_equal(rounded[0, 0].numpy(), expected)
    soft = a1111_latents.latent_mask(a1111.blur(mask, 4, 4), False)[0, 0].numpy()
    assert ((soft > 0) & (soft < 1)).any()  # not rounded: soft values stay


# ----- the contract ------------------------------------------------------------------------------------

def _inpaint(image, mask, **fields) -> dict:
    return {"method": "inpaint", "image": image_file(image), "mask": image_file(mask), "respective_field": 1.0,
            **fields}


def test_the_contract_keeps_fooocus_tasks_as_they_were_and_refuses_fooocus_knobs_with_a1111() -> None:
    image, mask = noise_image(64, 64), square_mask(64, 64, 8, 8, 16)
    plain = msgspec.convert(_inpaint(image, mask), Inpaint)
    assert b"a1111" not in msgspec.json.encode(plain)
    steps = msgspec.to_builtins(_steps())
    for extra in ({"erode_or_dilate": 3}, {"padding": {"left": 8}}, {"respective_field": 0.5},
                  {"disable_initial_latent": True}):
        with pytest.raises(msgspec.ValidationError, match="a1111"):
            msgspec.convert({**_inpaint(image, mask), "a1111": steps, **extra}, Inpaint)
    with pytest.raises(msgspec.ValidationError, match="whole picture"):
        msgspec.convert({**_inpaint(image, mask), "a1111": {**steps, "only_masked": False, "width": 128}}, Inpaint)


# ----- whole tasks on the tiny SDXL ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def warm(kernel, make):
    run(kernel, make())
    return kernel


def _task(make, image, mask, steps: A1111Inpaint, denoise=0.75, **fields):
    method = {**_inpaint(image, mask), "denoise": denoise, "a1111": msgspec.to_builtins(steps)}
    return make(width=image.shape[1], height=image.shape[0], steps=3, image_input=method, **fields)


@pytest.mark.parametrize("content", list(MaskedContent))
def test_only_masked_samples_the_box_at_the_working_size_and_keeps_the_rest(warm, make, content) -> None:
    image, mask = noise_image(200, 120), _rect_mask(200, 120, 120, 40, 150, 70)
    steps = _steps(content=content, padding=4, width=96, height=64)
    with recording(warm) as calls:
        result = run(warm, _task(make, image, mask, steps))
    out = output(result)
    assert out.shape == (120, 200, 3)
    assert {s[-2:] for s in calls.shapes} == {(8, 12)}  # 96×64 → a 12×8 latent
    outside = a1111.blur(mask, 4, 4) == 0
    assert np.array_equal(out[outside], image[outside])
    assert (out[45:65, 125:145] != image[45:65, 125:145]).any(axis=-1).mean() > 0.9
    assert any("AUTOMATIC1111's steps" in w and "box around the mask at 96×64" in w for w in result.warnings)


def test_the_whole_picture_is_sampled_at_its_own_size(warm, make) -> None:
    image, mask = noise_image(96, 64), _rect_mask(96, 64, 40, 16, 72, 48)
    steps = _steps(only_masked=False, width=96, height=64, blur_x=2, blur_y=0, content=MaskedContent.original)
    with recording(warm) as calls:
        out = output(run(warm, _task(make, image, mask, steps, denoise=0.5)))
    assert {s[-2:] for s in calls.shapes} == {(8, 12)}
    outside = a1111.blur(mask, 2, 0) == 0
    assert np.array_equal(out[outside], image[outside])


def test_latent_noise_and_nothing_change_only_the_masked_latent() -> None:
    encoded = torch.full((1, 4, 16, 16), 3.0)
    mask = torch.zeros((1, 1, 16, 16))
    mask[..., 4:12, 4:12] = 1
    inside = mask.expand_as(encoded).bool()
    noise = a1111_latents.start_latent(encoded, mask, MaskedContent.latent_noise, seed=5)
    nothing = a1111_latents.start_latent(encoded, mask, MaskedContent.latent_nothing, seed=5)
    for start in (noise, nothing):
        assert torch.equal(start[~inside], encoded[~inside])
    assert not nothing[inside].any()
    assert abs(float(noise[inside].mean())) < 0.2 and abs(float(noise[inside].std()) - 1.0) < 0.15  # unit noise
    again = a1111_latents.start_latent(encoded, mask, MaskedContent.latent_noise, seed=5)
    assert torch.equal(noise, again)  # one seed, one noise
    original = a1111_latents.start_latent(encoded, mask, MaskedContent.original, seed=5)
    assert torch.equal(original, encoded)


def test_a_mask_that_leaves_nothing_is_refused() -> None:
    with pytest.raises(KernelError) as refused:
        a1111.prepare(noise_image(64, 64), np.zeros((64, 64), np.uint8), _steps(), invert=False)
    assert refused.value.kind is FailureKind.bad_request and "nothing to repaint" in str(refused.value)


def test_an_rgba_mask_gives_its_alpha() -> None:
    rgba = np.zeros((16, 16, 4), np.uint8)
    rgba[..., :3] = 255  # white everywhere: only the alpha says where was painted
    rgba[4:8, 4:8, 3] = 200
    rgba[8:12, 8:12, 3] = 100
    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, "PNG")
    file = msgspec.convert({**image_file(rgba[..., :3]), "data": buf.getvalue()}, InputImage)
    rounded, kept = a1111.load_mask(file, True), a1111.load_mask(file, False)
    assert rounded[5, 5] == 255 and rounded[9, 9] == 0 and kept[9, 9] == 100 and kept[0, 0] == 0
