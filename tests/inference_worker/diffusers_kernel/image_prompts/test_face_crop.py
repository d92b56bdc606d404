"""FaceSwap's face crop on faces drawn at known places (OpenCV's frontal-face cascade finds the drawing).

What is checked comes from Fooocus 2.5 (extras/face_crop.py, extras/facexlib's FFHQ template): a square
framed on the face (the template's face sits centred across, a little below the middle: its nose at
314/512 down), grey (135, 133, 132) where the square runs off the picture, and the whole picture when
no face is found.
"""

from __future__ import annotations

import numpy as np
import pytest

from inference_worker.diffusers_kernel.image_prompts import face_crop
from tests.inference_worker.diffusers_kernel.image_prompts.ip_files import cartoon_face


@pytest.mark.parametrize(("cx", "cy", "scale"), [(200, 200, 1.0), (300, 180, 0.7), (220, 300, 1.3)])
def test_crop_is_a_square_framed_on_the_face(cx, cy, scale):
    picture = cartoon_face(480, cx, cy, scale)
    faces = face_crop.detect(picture)
    assert len(faces) == 1
    box = faces[0]
    crop = face_crop.face_crop(picture)
    side = crop.shape[0]
    assert crop.shape == (side, side, 3)
    assert side == round(box.w * face_crop.SIDE_PER_BOX)
    # The drawn face is 120 × 160 (× scale): the square holds all of it with a margin, as FFHQ crops do.
    assert 160 * scale < side < 3 * 160 * scale
    # Where the drawing's centre landed: centred across, slightly below the middle (the nose at ~0.61 of the
    # template; the drawing's centre lies between eyes and mouth, so at about half to 0.6).
    skin = np.all(np.abs(crop.astype(int) - (220, 190, 170)) < 25, axis=2)
    ys, xs = np.nonzero(skin)
    assert abs(xs.mean() / side - 0.5) < 0.05
    assert 0.45 < ys.mean() / side < 0.62


def test_a_face_at_the_edge_is_padded_with_fooocus_grey():
    picture = cartoon_face(400, 80, 90, 1.0)  # the square around it runs off the top and the left
    box = face_crop.detect(picture)[0]
    crop = face_crop.face_crop(picture)
    side = crop.shape[0]
    left = round(box.x + box.w / 2 - side / 2)
    assert left < 0
    assert np.all(crop[:, : -left] == face_crop.PAD_RGB)  # the columns left of the picture
    assert not np.all(crop[:, -left:] == face_crop.PAD_RGB)


def test_no_face_gives_none():
    rng = np.random.default_rng(0)
    assert face_crop.face_crop((rng.random((256, 256, 3)) * 255).astype(np.uint8)) is None
    assert face_crop.face_crop(np.full((256, 256, 3), 128, np.uint8)) is None


def test_largest_face_first():
    picture = np.full((500, 900, 3), 40, np.uint8)
    picture[:, :450] = cartoon_face(500, 225, 250, 0.8)[:, :450]
    picture[:, 450:] = cartoon_face(500, 225, 250, 1.2)[:, :450]
    faces = face_crop.detect(picture)
    assert len(faces) == 2
    assert faces[0].x > 450 and faces[0].w > faces[1].w
