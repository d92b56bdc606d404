"""Fooocus's control-map preprocessors on synthetic pictures whose structure is known exactly."""

from __future__ import annotations

import cv2
import numpy as np

from contract.image_prompt import ImagePromptType
from inference_worker.diffusers_kernel.image_prompts.preprocess import (
    canny_pyramid,
    control_map,
    cover_resize,
    cpds,
)


def _shapes(width: int = 256, height: int = 192) -> tuple[np.ndarray, np.ndarray]:
    """A picture (flat background, a dark rectangle, a blue disc) and the mask of its shapes."""
    img = np.full((height, width, 3), 230, np.uint8)
    mask = np.zeros((height, width), np.uint8)
    cv2.rectangle(img, (30, 40), (110, 150), (20, 20, 20), -1)
    cv2.rectangle(mask, (30, 40), (110, 150), 255, -1)
    cv2.circle(img, (180, 96), 40, (30, 60, 220), -1)
    cv2.circle(mask, (180, 96), 40, 255, -1)
    return img, mask


def _distance_to_boundary(mask: np.ndarray) -> np.ndarray:
    boundary = cv2.morphologyEx(mask, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
    return cv2.distanceTransform((~boundary).astype(np.uint8), cv2.DIST_L2, 3)


def test_canny_pyramid_marks_the_shape_outlines_and_nothing_else():
    img, mask = _shapes()
    edges = canny_pyramid(img, 64, 128)
    assert edges.shape == img.shape and edges.dtype == np.uint8
    assert (edges[:, :, 0] == edges[:, :, 1]).all() and (edges[:, :, 0] == edges[:, :, 2]).all()
    grey = edges[:, :, 0]
    distance = _distance_to_boundary(mask)
    # Coarse levels are upsampled level by level: an edge spreads a few pixels, faintly.
    assert grey[distance > 10].max() == 0 and grey[distance > 6].max() < 0.1 * grey.max()
    on_outline = grey[distance <= 1]
    assert (on_outline > 0).mean() > 0.95 and on_outline.mean() > 100


def test_canny_thresholds_act_high_thresholds_drop_weak_edges():
    img, _ = _shapes()
    faint = img.copy()
    cv2.rectangle(faint, (150, 160), (240, 185), (215, 215, 215), -1)  # a step of 15 grey levels
    region = (slice(150, 192), slice(140, 250))
    assert canny_pyramid(faint, 5, 10)[region].max() > 0
    assert canny_pyramid(faint, 200, 250)[region].max() == 0


def test_cpds_follows_luminance_and_keeps_isoluminant_contrast():
    height, width = 128, 256
    y, x = np.mgrid[0:height, 0:width]
    ramp = np.stack([x * 255 // width] * 3, -1).astype(np.uint8)  # a grey ramp: structure = luminance
    out = cpds(ramp)[:, :, 0].astype(np.float64)
    luminance = cv2.cvtColor(ramp, cv2.COLOR_RGB2GRAY).astype(np.float64)
    assert abs(np.corrcoef(out.ravel(), luminance.ravel())[0, 1]) > 0.95
    # Red beside a green of the same luma: plain greyscale loses the boundary, CPDS keeps it.
    two = np.zeros((height, width, 3), np.uint8)
    two[:, : width // 2] = (255, 0, 0)
    two[:, width // 2 :] = (0, 130, 0)
    grey = cv2.cvtColor(two, cv2.COLOR_RGB2GRAY).astype(np.float64)
    assert abs(grey[:, :100].mean() - grey[:, -100:].mean()) < 2
    structure = cpds(two)[:, :, 0].astype(np.float64)
    assert abs(structure[:, :100].mean() - structure[:, -100:].mean()) > 60


def test_pictures_are_brought_to_the_diffusion_size_by_cover_and_centre_crop():
    img = np.zeros((100, 200, 3), np.uint8)
    img[:, 50:150] = 255  # the middle half is white
    out = cover_resize(img, 64, 64)  # 2:1 → square: scaled to 128×64, the centre 64 columns kept
    assert out.shape == (64, 64, 3)
    assert out[:, 4:60].min() > 200  # all of the centre is the white band
    skipped = control_map(ImagePromptType.cpds, img, (64, 64), 64, 128, skip=True)
    assert np.array_equal(skipped, out)  # skip_preprocessor: the picture is the map
