"""Image prompts through the API and a real worker process on the diffusers kernel: a user's models folder
laid out as Fooocus's (Control-LoRA, IP-Adapter and its negative in `controlnet/`, the CLIP-vision encoder in
`clip_vision/`, under Fooocus's file names), built at test time for the tiny SDXL; a job mixing a PyraCanny and
an ImagePrompt prompt with text runs, each prompt changes the picture, weight 0 changes nothing."""

from __future__ import annotations

import base64
import io
import os

import numpy as np
import pytest
from PIL import Image, ImageDraw
from safetensors.torch import save_file

from bench.harness.in_process import running
from bench.harness.settings import server_settings
from tests.integration.test_image_inputs_end_to_end import BASE

pytestmark = pytest.mark.anyio
ENCODER_WIDTH, TOKENS = 32, 4


def fooocus_folder(root: str, tiny_models) -> str:
    from inference_worker.model_builders.control_models import control_lora
    from inference_worker.model_builders.ip_adapter_files import (
        clip_vision_file,
        ip_adapter_file,
        ip_negative_file,
    )
    from inference_worker.model_builders.small_pipelines import build_pipeline

    unet = build_pipeline(os.path.join(tiny_models.root, ".skeletons", "sdxl"), seed=0).unet
    controlnet = os.path.join(root, "controlnet")
    os.makedirs(controlnet, exist_ok=True)
    save_file(control_lora(unet, seed=1)[0], os.path.join(controlnet, "control-lora-canny-rank128.safetensors"))
    ip_adapter_file(os.path.join(controlnet, "ip-adapter-plus_sdxl_vit-h.bin"), unet, ENCODER_WIDTH, tokens=TOKENS,
                    seed=4)
    ip_negative_file(os.path.join(controlnet, "fooocus_ip_negative.safetensors"), TOKENS,
                     unet.config.cross_attention_dim, seed=7)
    clip_vision_file(os.path.join(root, "clip_vision", "clip_vision_vit_h.safetensors"), seed=3, width=ENCODER_WIDTH)
    return root


def picture() -> str:
    image = Image.new("RGB", (256, 256), (30, 30, 30))
    ImageDraw.Draw(image).ellipse((60, 60, 196, 196), fill=(230, 200, 40))
    out = io.BytesIO()
    image.save(out, "PNG")
    return base64.b64encode(out.getvalue()).decode()


async def run(srv, body: dict) -> tuple[dict, np.ndarray]:
    r = await srv.client.post("/v1/jobs?wait=true", json={**BASE, "overwrite_width": 256, "overwrite_height": 256,
                                                          **body}, timeout=300)
    assert r.status_code == 200, r.text
    job = r.json()
    assert job["status"] == "succeeded", job.get("error")
    data = (await srv.client.get(job["images"][0]["url"])).content
    return job, np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


async def test_a_fooocus_folder_of_image_prompt_models_runs(tmp_path, tiny_models) -> None:
    models = fooocus_folder(str(tmp_path / "fooocus_models"), tiny_models)
    settings = server_settings(tmp_path, worker_kernel=None, model_roots=[tiny_models.root, models], step_delay=0.0)
    async with running(settings) as srv:
        types = {t["type"]: t for t in (await srv.client.get("/v1/catalog")).json()["image_prompt_types"]}
        assert types["PyraCanny"]["available"] and types["ImagePrompt"]["available"]
        assert not types["CPDS"]["available"]  # fooocus_xl_cpds_128 is not in the folder
        _, plain = await run(srv, {})
        image = picture()
        job, prompted = await run(srv, {"image_prompts": [{"image": image, "type": "PyraCanny"},
                                                          {"image": image, "type": "ImagePrompt"}]})
        prompts = job["normalized"]["tasks"][0]["image_prompts"]
        assert [(p["type"], p["stop"], p["weight"]) for p in prompts] == [("PyraCanny", 0.5, 1.0),
                                                                          ("ImagePrompt", 0.5, 0.6)]
        assert prompts[1]["image_encoder"]["name"] == "clip_vision_vit_h.safetensors"
        assert prompts[1]["ip_negative"]["name"] == "fooocus_ip_negative.safetensors"
        assert not np.array_equal(prompted, plain)
        _, silent = await run(srv, {"image_prompts": [{"image": image, "type": "PyraCanny", "weight": 0.0001},
                                                      {"image": image, "type": "ImagePrompt", "weight": 0.0001}]})
        # Weight 0 means "the type's default" (Fooocus): a weight near zero is the closest to no prompt.
        assert np.abs(silent.astype(int) - plain.astype(int)).mean() < np.abs(prompted.astype(int)
                                                                              - plain.astype(int)).mean()
        refused = await srv.client.post("/v1/jobs", json={**BASE, "image_prompts": [{"image": image,
                                                                                    "type": "CPDS"}]})
        assert refused.status_code == 422 and refused.json()["error"]["field"] == "$.image_prompts[0].type"
        assert "fooocus_xl_cpds_128" in refused.json()["error"]["message"]
