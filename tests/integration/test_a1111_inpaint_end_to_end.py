"""AUTOMATIC1111-style inpainting end to end: the real server and the real diffusers worker on the tiny SDXL,
asked through AUTOMATIC1111's API with its Python client `webuiapi` and every default of its img2img call
(mask_blur 4, inpainting_fill 0, inpaint_full_res true with padding 0, denoising_strength 0.75, 512 × 512)."""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from tests.integration.webui_client import webui


def test_webuiapis_default_inpaint_call_runs_and_keeps_the_unmasked_pixels(tiny_server) -> None:
    api = webui(tiny_server)
    api.set_options({"sd_model_checkpoint": "tiny-sdxl"})
    source = (np.random.default_rng(1).random((384, 576, 3)) * 255).astype(np.uint8)
    mask = np.zeros((384, 576), np.uint8)
    mask[120:220, 300:420] = 255
    r = api.img2img(images=[Image.fromarray(source)], mask_image=Image.fromarray(mask))
    assert [i.size for i in r.images] == [(576, 384)]  # "only masked": the image's own size comes back
    out = np.asarray(r.images[0].convert("RGB"))
    # A1111's overlay: where its blurred mask (sigma 4, 21-tap kernels, OpenCV) is 0, the input, bit for bit
    blurred = cv2.GaussianBlur(cv2.GaussianBlur(mask, (21, 1), 4), (1, 21), 4)
    outside = blurred == 0
    assert np.array_equal(out[outside], source[outside])
    assert (out[130:210, 310:410] != source[130:210, 310:410]).any(axis=-1).mean() > 0.9
    pairs = set(r.info["infotexts"][0].splitlines()[-1].split(", "))
    assert {"Mask blur: 4", "Inpaint area: Only masked", "Masked area padding: 0", "Masked content: fill",
            "Denoising strength: 0.75"} <= pairs
