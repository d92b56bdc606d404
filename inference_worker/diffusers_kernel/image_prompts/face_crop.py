"""FaceSwap's face crop: the picture → a square around its face, framed as Fooocus frames it.

Fooocus aligns the first face its landmark detector finds onto the FFHQ template (a 512² square with the
eye centres at x 193 and 319, y 240, the mouth at y 371), pads what falls outside the picture with the
grey (135, 133, 132), and, finding no face, uses the whole picture. remgo finds faces with OpenCV's
frontal-face Haar cascade, which ships with OpenCV and gives a box, not landmarks, so the crop is that
framing read off the box: the eyes of a Haar box lie about 0.4 of its width apart, and the template
puts them 126/512 of the side apart, hence a square 1.6 box widths wide; the eye line lies about 0.38 of
the box down and 240/512 of the square down, hence the box centre 0.54 of the square down, centred
across. There is no rotation: a tilted face stays tilted. The largest face is taken.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

PAD_RGB = (135, 133, 132)  # Fooocus's fill outside the picture
SIDE_PER_BOX = 1.6
BOX_CENTRE_DOWN = 0.54  # the box centre's height in the square, as a fraction of its side
_CASCADE = "haarcascade_frontalface_default.xml"
_classifier: cv2.CascadeClassifier | None = None


@dataclass(frozen=True)
class Box:
    x: int
    y: int
    w: int
    h: int


def detect(rgb: np.ndarray) -> list[Box]:
    """Frontal faces, largest first."""
    global _classifier
    if _classifier is None:
        _classifier = cv2.CascadeClassifier(cv2.data.haarcascades + _CASCADE)
    grey = cv2.equalizeHist(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
    side = min(grey.shape)
    found = _classifier.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5,
                                         minSize=(max(24, side // 16),) * 2)  # fmt: skip
    boxes = [Box(int(x), int(y), int(w), int(h)) for x, y, w, h in (found if len(found) else [])]
    return sorted(boxes, key=lambda b: b.w * b.h, reverse=True)


def crop_square(rgb: np.ndarray, box: Box) -> np.ndarray:
    """The template-framed square around `box`, at the picture's resolution, grey where it runs off."""
    side = max(1, int(round(box.w * SIDE_PER_BOX)))
    cx, cy = box.x + box.w / 2.0, box.y + box.h / 2.0
    left, top = int(round(cx - side / 2.0)), int(round(cy - side * BOX_CENTRE_DOWN))
    out = np.empty((side, side, 3), np.uint8)
    out[:] = PAD_RGB
    h, w = rgb.shape[:2]
    x0, y0, x1, y1 = max(left, 0), max(top, 0), min(left + side, w), min(top + side, h)
    if x1 > x0 and y1 > y0:
        out[y0 - top : y1 - top, x0 - left : x1 - left] = rgb[y0:y1, x0:x1]
    return out


def face_crop(rgb: np.ndarray) -> np.ndarray | None:
    """The crop around the largest face; None when there is none (the caller keeps the whole picture)."""
    faces = detect(rgb)
    return crop_square(rgb, faces[0]) if faces else None
