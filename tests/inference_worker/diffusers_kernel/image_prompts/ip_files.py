"""The IP-Adapter test files, built once per session next to the tiny models: a tiny CLIP-vision encoder,
two "plus" IP-Adapters for the tiny SDXL (an ImagePrompt and a FaceSwap one, other weights), one for the
tiny SD 1.5 (to be refused on SDXL), and an `ip_negative`; plus a synthetic face OpenCV's cascade finds."""

from __future__ import annotations

import os
from dataclasses import dataclass

import cv2
import numpy as np

ENCODER_WIDTH, TOKENS = 32, 4


@dataclass(frozen=True)
class IpFiles:
    encoder: str
    adapter: str
    face_adapter: str
    sd15_adapter: str
    negative: str


_BUILT: dict[str, IpFiles] = {}


def ip_files(tiny_models) -> IpFiles:
    if tiny_models.root not in _BUILT:
        from inference_worker.model_builders.ip_adapter_files import (
            clip_vision_file,
            ip_adapter_file,
            ip_negative_file,
        )
        from inference_worker.model_builders.small_pipelines import build_pipeline

        root = os.path.join(tiny_models.root, "ip")
        sdxl = build_pipeline(os.path.join(tiny_models.root, ".skeletons", "sdxl"), seed=0).unet
        sd15 = build_pipeline(os.path.join(tiny_models.root, ".skeletons", "sd15"), seed=1).unet
        _BUILT[tiny_models.root] = IpFiles(
            encoder=clip_vision_file(os.path.join(root, "clip_vision", "tiny-clip-vision.safetensors"), seed=3,
                                     width=ENCODER_WIDTH),
            adapter=ip_adapter_file(os.path.join(root, "controlnet", "tiny-ip-adapter-plus.bin"), sdxl,
                                    ENCODER_WIDTH, tokens=TOKENS, seed=4),
            face_adapter=ip_adapter_file(os.path.join(root, "controlnet", "tiny-ip-adapter-face.safetensors"), sdxl,
                                         ENCODER_WIDTH, tokens=TOKENS, seed=5),
            sd15_adapter=ip_adapter_file(os.path.join(root, "controlnet", "tiny-ip-adapter-sd15.bin"), sd15,
                                         ENCODER_WIDTH, tokens=TOKENS, seed=6),
            negative=ip_negative_file(os.path.join(root, "controlnet", "tiny-ip-negative.safetensors"), TOKENS,
                                      sdxl.config.cross_attention_dim, seed=7),
        )  # fmt: skip
    return _BUILT[tiny_models.root]


def cartoon_face(side: int, cx: int, cy: int, scale: float = 1.0, background: int = 40) -> np.ndarray:
    """A flat-shaded face (oval, dark eyes and brows, light nose ridge, dark mouth) centred on (cx, cy),
    blurred like a photo: enough for the frontal-face cascade, which reads light/dark contrasts."""
    img = np.full((side, side, 3), background, np.uint8)

    def at(x: float, y: float) -> tuple[int, int]:
        return int(cx + x * scale), int(cy + y * scale)

    def size(a: float, b: float) -> tuple[int, int]:
        return max(1, int(a * scale)), max(1, int(b * scale))

    cv2.ellipse(img, at(0, 0), size(60, 80), 0, 0, 360, (220, 190, 170), -1)
    for ex in (-24, 24):
        cv2.ellipse(img, at(ex, -14), size(11, 6), 0, 0, 360, (50, 40, 40), -1)
        cv2.ellipse(img, at(ex, -30), size(15, 4), 0, 0, 360, (70, 60, 60), -1)
    cv2.ellipse(img, at(0, 10), size(6, 14), 0, 0, 360, (235, 205, 190), -1)
    cv2.ellipse(img, at(0, 40), size(20, 6), 0, 0, 360, (120, 60, 70), -1)
    return cv2.GaussianBlur(img, (0, 0), 2 * scale)
