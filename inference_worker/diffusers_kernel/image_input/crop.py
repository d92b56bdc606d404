"""The area of the image an inpaint works on: Fooocus's "respective field".

Start from a square around the mask: centred on its bounding box, half-side 1.15 × the box's larger
half-extent. Grow it one pixel per side at a time — its shorter dimension first, the other once one
reaches the image's edge — until it spans at least `field` of the image's height and of its width.
`field` 1.0 is the whole image. Boxes are (top, bottom, left, right), bottom and right exclusive.
"""

from __future__ import annotations

import numpy as np

Box = tuple[int, int, int, int]


def _clamp(box: tuple[float, float, float, float], height: int, width: int) -> Box:
    top, bottom, left, right = box
    return (
        int(min(max(top, 0), height)), int(min(max(bottom, 0), height)),
        int(min(max(left, 0), width)), int(min(max(right, 0), width)),
    )  # fmt: skip


def initial_box(mask: np.ndarray) -> Box:
    rows, cols = np.nonzero(mask)
    top, bottom, left, right = rows.min(), rows.max(), cols.min(), cols.max()
    mid_r, mid_c = (bottom + top) // 2, (right + left) // 2
    half = int(max((bottom - top) // 2, (right - left) // 2) * 1.15)
    return _clamp((mid_r - half, mid_r + half + 1, mid_c - half, mid_c + half + 1), *mask.shape[:2])


def grow_box(box: Box, height: int, width: int, field: float) -> Box:
    if field >= 1.0:
        return 0, height, 0, width
    top, bottom, left, right = box
    while bottom - top < height * field or right - left < width * field:
        wider = bottom - top < right - left
        grow_h = wider or right - left == width
        grow_w = not wider or bottom - top == height
        if grow_h:
            top, bottom = top - 1, bottom + 1
        if grow_w:
            left, right = left - 1, right + 1
        top, bottom, left, right = _clamp((top, bottom, left, right), height, width)
    return top, bottom, left, right


def respective_box(mask: np.ndarray, field: float) -> Box:
    return grow_box(initial_box(mask), mask.shape[0], mask.shape[1], field)
