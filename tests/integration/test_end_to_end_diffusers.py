"""The whole path with the real diffusers kernel on the tiny random-weight SDXL model."""

import io

import pytest
from PIL import Image

from bench.harness.in_process import poll, running, sse_events
from bench.harness.settings import server_settings

pytestmark = pytest.mark.anyio


async def test_tiny_sdxl_end_to_end(tmp_path, tiny_models) -> None:
    settings = server_settings(tmp_path, worker_kernel=None, model_roots=[tiny_models.root], step_delay=0.0)
    body = {"prompt": "a lighthouse at dusk", "base_model_name": "tiny-sdxl.safetensors", "image_number": 2,
            "image_seed": 42, "overwrite_width": 256, "overwrite_height": 256, "overwrite_step": 2,
            "style_selections": [], "loras": [], "sampler_name": "euler", "scheduler_name": "karras", "image_sharpness": 0.0}
    async with running(settings) as srv:
        workers = (await srv.client.get("/v1/workers")).json()["workers"]
        assert workers[0]["kernel"] != "color"
        r = await srv.client.post("/v1/jobs?id=e2e", json=body)
        assert r.status_code == 202, r.text
        events = await sse_events(srv.client, "/v1/jobs/e2e/events")
        assert events[-1][0] == "finished", events[-1][1].get("error")
        job = await poll(srv.client, "e2e", "succeeded")
        assert [i["seed"] for i in job["images"]] == [42, 43]
        task = job["normalized"]["tasks"][0]
        assert task["sampler"] == "euler" and task["steps"] == 2 and task["positive"]
        files = [(await srv.client.get(i["url"])).content for i in job["images"]]
        images = [Image.open(io.BytesIO(f)) for f in files]
        assert all(im.size == (256, 256) for im in images)
        assert files[0] != files[1]  # different seeds, different pictures
        assert "parameters" in images[0].info  # metadata made by the normalizer, embedded by the worker
        history = (await srv.client.get("/v1/history")).json()
        assert len(history["items"]) == 2
