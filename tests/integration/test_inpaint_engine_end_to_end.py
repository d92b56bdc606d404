"""Fooocus's inpaint engine through the API and a real worker process: with its head and v2.6 patch in an
`inpaint` folder of a models root (written at test time for the tiny SDXL, in Fooocus's formats) an
inpaint job sends the engine by default (Fooocus's default), runs it, says so, and records it."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch
from PIL import Image

from bench.harness.in_process import running
from bench.harness.settings import server_settings
from orchestrator.store.metadata.image_io import read_embedded
from tests.inference_worker.diffusers_kernel.image_input.engine_files import engine_folder, head_channels
from tests.integration.test_image_inputs_end_to_end import BASE, noise, png_b64

pytestmark = pytest.mark.anyio


async def test_an_installed_engine_runs_by_default_and_is_recorded(tmp_path, tiny_models) -> None:
    engine_root = tmp_path / "fooocus_models"
    head = torch.randn(head_channels(tiny_models.sdxl_file), 5, 3, 3, generator=torch.Generator().manual_seed(1))
    engine_folder(str(engine_root / "inpaint"), tiny_models.sdxl_file, head=head * 0.05, low=-0.01, high=0.01)
    settings = server_settings(tmp_path, worker_kernel=None, model_roots=[tiny_models.root, str(engine_root)],
                               step_delay=0.0)
    image = noise(256, 256, seed=3)
    mask = np.zeros((256, 256, 3), np.uint8)
    mask[96:160, 96:160] = 255
    body = {**BASE, "overwrite_step": 5, "refiner_swap_method": "separate", "inpaint_input_image": png_b64(image), "inpaint_mask_image": png_b64(mask)}
    async with running(settings) as srv:
        r = await srv.client.post("/v1/jobs?wait=true", json=body, timeout=300)
        assert r.status_code == 200, r.text
        job = r.json()
        assert job["status"] == "succeeded", job.get("error")
        engine = job["normalized"]["tasks"][0]["image_input"]["engine"]
        assert engine["version"] == "v2.6"
        assert engine["head"]["name"] == "fooocus_inpaint_head.pth"
        assert engine["patch"]["name"] == "inpaint_v26.fooocus.patch"
        ran = [w for w in job["warnings"] if w.startswith("inpaint engine:")]
        # no refiner chosen: Fooocus's synthetic one, switch round(5 × 0.8) = 4; with the separate swap the
        # base makes steps 1–4 and the synthetic refiner step 5, the last one
        assert ran == ["inpaint engine: Fooocus v2.6 (fooocus_inpaint_head.pth + inpaint_v26.fooocus.patch) on "
                       "the base; Fooocus's synthetic refiner (the base without the patch) made the last 1 of 5 "
                       "steps"], job["warnings"]
        data = (await srv.client.get(job["images"][0]["url"])).content
    painted = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    assert painted.shape == image.shape and (painted[112:144, 112:144] != image[112:144, 112:144]).any()
    embedded = read_embedded(data)
    params = json.loads(embedded["parameters"])
    assert params["inpaint_engine"] == "v2.6"
