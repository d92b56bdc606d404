"""Vary, Upscale and Inpaint/Outpaint through the API and a real worker process running the diffusers kernel
on the tiny random-weight SDXL model: what comes back has the size Fooocus's rules give, the steps run are the
task's, and an inpaint leaves the pixels away from its mask exactly as they were."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from bench.harness.in_process import running
from bench.harness.settings import server_settings

pytestmark = pytest.mark.anyio

BASE = {"base_model_name": "tiny-sdxl.safetensors", "image_number": 1, "image_seed": 7, "style_selections": [],
        "loras": [], "sampler_name": "euler", "scheduler_name": "karras", "image_sharpness": 0.0,
        "overwrite_step": 2, "prompt": "a lighthouse"}


def png_b64(pixels: np.ndarray) -> str:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "PNG")
    return base64.b64encode(out.getvalue()).decode()


def noise(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


async def run(srv, body: dict) -> tuple[dict, np.ndarray]:
    r = await srv.client.post("/v1/jobs?wait=true", json={**BASE, **body}, timeout=300)
    assert r.status_code == 200, r.text
    job = r.json()
    assert job["status"] == "succeeded", job.get("error")
    data = (await srv.client.get(job["images"][0]["url"])).content
    return job, np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


async def test_each_method_on_the_tiny_model(tmp_path, tiny_models) -> None:
    settings = server_settings(tmp_path, worker_kernel=None, model_roots=[tiny_models.root], step_delay=0.0)
    async with running(settings) as srv:
        job, varied = await run(srv, {"uov_method": "Vary (Subtle)", "uov_input_image": png_b64(noise(96, 128))})
        assert varied.shape == (896, 1152, 3)  # shape ceil 128 → 1024: 128×96 becomes 1152×896
        assert job["normalized"]["tasks"][0]["image_input"]["denoise"] == 0.5
        assert job["progress"]["total"] == 2  # the performance's steps, all run at denoise 0.5

        src = noise(200, 300, seed=1)
        _, fast = await run(srv, {"uov_method": "Upscale (Fast 2x)", "upscale_fallback": True,
                                  "uov_input_image": png_b64(src)})
        # 600×400 has shape ceil 512 < 1024, so Fooocus brings the image to shape ceil 1024 instead: 1216×768.
        lanczos = np.asarray(Image.fromarray(src).resize((1216, 768), Image.Resampling.LANCZOS))
        assert np.array_equal(fast, lanczos)  # no diffusion: the resize itself

        image = noise(256, 256, seed=2)
        mask = np.zeros((256, 256, 3), np.uint8)
        mask[96:160, 96:160] = 255
        job, painted = await run(srv, {"inpaint_input_image": png_b64(image), "inpaint_mask_image": png_b64(mask),
                                       "inpaint_engine": "None"})
        assert painted.shape == image.shape
        far = np.ones((256, 256), bool)
        far[48:208, 48:208] = False  # 48 px around the mask: feathering reaches less far
        assert np.array_equal(painted[far], image[far])
        assert (painted[112:144, 112:144] != image[112:144, 112:144]).any(axis=-1).mean() > 0.9
        assert job["warnings"] == [] or all("inpaint" in w or "resized" in w for w in job["warnings"])

        job, grown = await run(srv, {"inpaint_input_image": png_b64(image), "outpaint_selections": ["Right"],
                                     "inpaint_engine": "None"})
        assert grown.shape == (256, 256 + 76, 3)  # int(256 × 0.3) = 76 columns on the right
        assert job["images"][0]["width"] == 332
