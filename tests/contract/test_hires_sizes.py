"""Hires fix's sizes against AUTOMATIC1111's rules (processing.py, `calculate_target_resolution` and the
latent crop of `sample_hr_pass`), each case worked out by hand in the comment beside it: the target is
int(side × hr_scale), or hr_resize_x/y (one alone keeps the first pass's aspect, by floor division); with
both and another aspect, A1111 covers the target at the first pass's aspect and drops (cover − target) // 8
latent cells, half (rounded down) before and the rest after. The image is its latent's cells × 8."""

from __future__ import annotations

import msgspec
import pytest

from contract.hires import HiresFix, HiresFixRequest

CASES = [
    # (width, height, hr_scale, hr_resize_x, hr_resize_y) → (upscaled, final)
    # 512 × 2 = 1024 a side
    ((512, 512, 2.0, 0, 0), ((1024, 1024), (1024, 1024))),
    # 512 × 1.5 = 768, 768 × 1.5 = 1152
    ((512, 768, 1.5, 0, 0), ((768, 1152), (768, 1152))),
    # int(520 × 1.3) = 676 → 84 cells → 672; int(680 × 1.3) = 884 → 110 cells → 880
    ((520, 680, 1.3, 0, 0), ((672, 880), (672, 880))),
    # int(600 × 1.25) = 750 → 93 cells → 744; 400 × 1.25 = 500 → 62 cells → 496
    ((600, 400, 1.25, 0, 0), ((744, 496), (744, 496))),
    # x only: 1000, and 1000 × 512 // 512 = 1000 → 125 cells → 1000
    ((512, 512, 2.0, 1000, 0), ((1000, 1000), (1000, 1000))),
    # y only: 1000 × 512 // 768 = 666 → 83 cells → 664; 1000 → 125 cells
    ((512, 768, 2.0, 0, 1000), ((664, 1000), (664, 1000))),
    # both, wider target: 512/512 < 1024/768, so cover 1024 × (1024 × 512 // 512 = 1024);
    # (1024 − 768) // 8 = 32 cells dropped: 128 − 32 = 96 cells → 768
    ((512, 512, 2.0, 1024, 768), ((1024, 1024), (1024, 768))),
    # both, narrower target: 768/512 ≥ 1000/900, cover (900 × 768 // 512 = 1350) × 900;
    # x: 1350 // 8 = 168 cells, (1350 − 1000) // 8 = 43 dropped → 125 cells → 1000; y: 900 // 8 = 112 → 896
    ((768, 512, 2.0, 1000, 900), ((1344, 896), (1000, 896))),
    # both, square first pass: cover 1000 × 1000 (125 cells); (1000 − 900) // 8 = 12 dropped → 113 → 904
    ((512, 512, 2.0, 1000, 900), ((1000, 1000), (1000, 904))),
]


@pytest.mark.parametrize(("given", "expected"), CASES)
def test_sizes_follow_a1111(given, expected):
    width, height, scale, rx, ry = given
    assert HiresFixRequest(scale=scale, resize_width=rx, resize_height=ry).sizes(width, height) == expected


def test_the_crop_drops_half_the_cells_rounded_down_before():
    # 1344 → 1000 wide: 43 cells dropped, 21 on the left (A1111: truncate_x // 2), 22 on the right
    fix = HiresFix(width=1000, height=896, upscaled_width=1344, upscaled_height=896, upscaler="Latent", steps=2,
                   denoise=0.5)
    assert fix.crop() == (21, 0)


def test_the_task_struct_refuses_a_cover_smaller_than_the_image():
    with pytest.raises(msgspec.ValidationError, match="hires.upscaled_width"):
        msgspec.convert({"width": 1024, "height": 1024, "upscaled_width": 512, "upscaled_height": 1024,
                         "upscaler": "Latent", "steps": 2, "denoise": 0.5}, HiresFix)


def test_an_unknown_upscaler_is_refused_naming_the_field():
    with pytest.raises(msgspec.ValidationError, match=r"\$\.upscaler"):
        msgspec.convert({"upscaler": "R-ESRGAN 4x+"}, HiresFixRequest)
