"""An inpainting checkpoint (the tiny SDXL with a 9-channel UNet) through the API and a real worker process: the
catalog lists it as SDXL and says it inpaints; an inpaint job on it succeeds, leaves the pixels away from its mask
exactly as they were, and its warnings say the checkpoint's own inpainting UNet ran; text to image runs too."""

from __future__ import annotations

import os

import numpy as np
import pytest

from bench.harness.in_process import running
from bench.harness.settings import server_settings
from tests.integration.test_image_inputs_end_to_end import noise, png_b64, run
from tests.tiny_models import tiny_inpainting

pytestmark = pytest.mark.anyio
NAME = "tiny-sdxl-inpainting.safetensors"


async def test_an_inpaint_job_runs_the_checkpoints_own_inpainting_unet(tmp_path, tiny_models) -> None:
    inpainting_root = os.path.dirname(os.path.dirname(tiny_inpainting(tiny_models, "sdxl")))
    settings = server_settings(tmp_path, worker_kernel=None, model_roots=[tiny_models.root, inpainting_root],
                               step_delay=0.0)
    async with running(settings) as srv:
        listed = (await srv.client.get("/v1/models")).json()
        entry = next(m for m in listed["models"] if m["name"] == NAME)
        assert entry["architecture"] == "sdxl" and "inpainting checkpoint" in entry["note"]

        image = noise(256, 256, seed=2)
        mask = np.zeros((256, 256, 3), np.uint8)
        mask[96:160, 96:160] = 255
        job, painted = await run(srv, {"base_model_name": NAME, "inpaint_input_image": png_b64(image),
                                       "inpaint_mask_image": png_b64(mask), "inpaint_engine": "None"})
        assert painted.shape == image.shape
        far = np.ones((256, 256), bool)
        far[48:208, 48:208] = False  # 32 px of feathering around the mask, and a margin
        assert np.array_equal(painted[far], image[far])
        assert "inpaint engine: none; the checkpoint's own 9-channel inpainting UNet ran" in job["warnings"]

        job, made = await run(srv, {"base_model_name": NAME, "aspect_ratios_selection": "1024*1024"})
        assert made.shape == (1024, 1024, 3)
