"""Inpaint and Outpaint on the tiny SDXL. The working size is lowered from 1024 to shape ceil 128 so a
test runs in a second; the crop rules are Fooocus's whatever the size."""

from __future__ import annotations

import msgspec
import numpy as np
import pytest

from inference_worker.diffusers_kernel.image_input import inpaint, pixels
from tests.inference_worker.diffusers_kernel.fidelity_models import run
from tests.inference_worker.diffusers_kernel.image_input.image_files import (
    image_file,
    noise_image,
    output,
    recording,
    square_mask,
)

FEATHER = 32  # Fooocus's soft edge: weight 0 from 32 pixels (chessboard distance) off the mask


@pytest.fixture(scope="module")
def warm(kernel, make):
    run(kernel, make())
    return kernel


@pytest.fixture(autouse=True)
def small_working_size(monkeypatch):
    monkeypatch.setattr(inpaint, "WORKING_SHAPE_CEIL", 128)


def _chessboard_distance(mask: np.ndarray) -> np.ndarray:
    # a square mask: the distance to it is the larger of the row and column gaps
    rows, cols = np.nonzero(mask)
    y, x = np.mgrid[0 : mask.shape[0], 0 : mask.shape[1]]
    gap_y = np.maximum(np.maximum(rows.min() - y, y - rows.max()), 0)
    gap_x = np.maximum(np.maximum(cols.min() - x, x - cols.max()), 0)
    return np.maximum(gap_y, gap_x)


def _inpaint(make, src, mask, steps=2, **fields):
    fields = {"method": "inpaint", "image": image_file(src), "mask": image_file(mask), **fields}
    h, w = src.shape[:2]
    p = fields.get("padding", {})
    width, height = w + p.get("left", 0) + p.get("right", 0), h + p.get("top", 0) + p.get("bottom", 0)
    return make(width=width, height=height, steps=steps, image_input=fields)


def _changed_box(a: np.ndarray, b: np.ndarray) -> tuple[int, int, int, int]:
    rows, cols = np.nonzero((a != b).any(axis=-1))
    return rows.min(), rows.max(), cols.min(), cols.max()


@pytest.mark.parametrize("dilate", [0, 5, -3])
def test_pixels_beyond_the_feathered_mask_are_the_inputs_and_dilation_moves_the_edge(warm, make, dilate):
    src, mask = noise_image(160, 160), square_mask(160, 160, top=70, left=70, side=20)
    result = run(warm, _inpaint(make, src, mask, erode_or_dilate=dilate, respective_field=1.0))
    out = output(result)
    far = _chessboard_distance(mask) >= FEATHER + max(dilate, 0)
    assert np.array_equal(out[far], src[far])
    # the repainted area (any pixel that changed) reaches 31 pixels past the eroded/dilated square
    reach = FEATHER - 1 + dilate
    assert _changed_box(out, src) == (70 - reach, 89 + reach, 70 - reach, 89 + reach)
    assert (out[75:85, 75:85] != src[75:85, 75:85]).mean() > 0.9
    assert any("inpaint engine: none" in w for w in result.warnings)


def test_respective_field_sets_the_crop_the_unet_sees(warm, make):
    # 192×96 image, a 12-pixel square mask: field 1.0 is the whole 2:1 image, brought to shape ceil 128
    # → 128×64 (latent 16×8); field 0 is the square around the mask → 128×128 (latent 16×16).
    src, mask = noise_image(192, 96), square_mask(192, 96, top=40, left=90, side=12)
    shapes = {}
    for field in (1.0, 0.0):
        with recording(warm) as calls:
            run(warm, _inpaint(make, src, mask, respective_field=field))
        shapes[field] = set(calls.shapes)
    assert shapes == {1.0: {(2, 4, 8, 16)}, 0.0: {(2, 4, 16, 16)}}


@pytest.mark.parametrize("with_mask", [True, False], ids=["empty-mask", "no-mask"])
def test_outpaint_grows_the_image_and_repaints_the_new_area(warm, make, with_mask):
    src = noise_image(96, 64)
    mask = np.zeros((64, 96), np.uint8)
    task = _inpaint(make, src, mask, padding={"right": 40, "top": 8}, respective_field=1.0)
    if not with_mask:  # Outpaint alone, as the orchestrator sends it
        task = msgspec.structs.replace(task, image_input=msgspec.structs.replace(task.image_input, mask=None))
    result = run(warm, task)
    out = output(result)
    assert out.shape == (72, 136, 3)
    edge_fill = np.pad(src, ((8, 0), (0, 40), (0, 0)), mode="edge")
    assert (out[8:, 96:] != edge_fill[8:, 96:]).any(axis=-1).mean() > 0.9  # the new strip is sampled
    assert np.array_equal(out[8 + FEATHER :, : 96 - FEATHER], src[FEATHER:, : 96 - FEATHER])


def test_invert_mask_repaints_the_other_side(warm, make):
    src, mask = noise_image(128, 128), square_mask(128, 128, top=0, left=0, side=128)
    mask[:, 80:] = 0  # repaint the left 80 columns; inverted: the right 48
    out = output(run(warm, _inpaint(make, src, mask, invert_mask=True, respective_field=1.0)))
    assert np.array_equal(out[:, : 80 - FEATHER], src[:, : 80 - FEATHER])
    assert (out[:, 90:] != src[:, 90:]).any(axis=-1).mean() > 0.9


def test_disable_initial_latent_starts_from_noise(warm, make):
    src, mask = noise_image(128, 128), square_mask(128, 128, top=40, left=40, side=40)
    a = output(run(warm, _inpaint(make, src, mask, denoise=0.6)))
    b = output(run(warm, _inpaint(make, src, mask, denoise=0.6, disable_initial_latent=True)))
    assert not np.array_equal(a, b)


def test_small_crops_warn_that_no_super_resolution_ran(warm, make):
    src, mask = noise_image(64, 64), square_mask(64, 64, top=20, left=20, side=10)
    result = run(warm, _inpaint(make, src, mask))
    assert any("super-resolution" in w for w in result.warnings)


def test_the_default_working_size_is_shape_ceil_1024(monkeypatch):
    monkeypatch.undo()
    assert inpaint.WORKING_SHAPE_CEIL == 1024
    # Fooocus's set_image_shape_ceil on a 300×150 crop, by hand (shape ceil = ⌈√(w·h) / 64⌉·64):
    # 256 → ×4 → 1216×576 (896) → ×8/7 → 1408×640 (960) → ×16/15 → 1472×704 (1024)
    assert pixels.size_for_shape_ceil(300, 150, 1024) == (1472, 704)
