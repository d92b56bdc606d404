"""The SDXL refiner architecture through the API, on a real worker with the diffusers kernel and tiny models:
listed as such, run as the refiner of an SDXL base, refused by name as a base or after an SD 1.5 base; a
Playground v2.5 file is listed as unknown and its job fails naming the file and what it is."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from bench.harness.in_process import poll, running, sse_events
from bench.harness.settings import make_catalog, server_settings
from tests.tiny_models import tiny_refiner

pytestmark = pytest.mark.anyio

SMALL = {"overwrite_width": 256, "overwrite_height": 256, "overwrite_step": 4, "image_number": 1,
         "image_seed": 7, "style_selections": [], "sampler_name": "euler", "scheduler_name": "karras"}
REFINER = "sd_xl_refiner_tiny.safetensors"


def _models(root: Path, tiny) -> Path:
    checkpoints = root / "checkpoints"
    checkpoints.mkdir(parents=True)
    for src in (tiny.sdxl_file, tiny.sd15_file):
        shutil.copy(src, checkpoints)
    shutil.copy(tiny_refiner(tiny), checkpoints / REFINER)
    with safe_open(tiny.sdxl_file, "pt") as fh:  # Playground v2.5's marker keys on an SDXL layout
        tensors = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118 - safe_open has no iteration
        metadata = fh.metadata()
    tensors.update(edm_mean=torch.zeros(1, 4, 1, 1), edm_std=torch.ones(1, 4, 1, 1))
    save_file(tensors, str(checkpoints / "playground-tiny.safetensors"), metadata=metadata)
    return root


async def test_the_sdxl_refiner_architecture_through_the_api(tmp_path, tiny_models):
    catalog = make_catalog(tmp_path)
    for placeholder in (catalog / "models" / "checkpoints").iterdir():
        placeholder.unlink()
    models = _models(tmp_path / "m", tiny_models)
    settings = server_settings(tmp_path, worker_kernel=None, model_roots=[str(models)], catalog_dir=str(catalog))
    async with running(settings) as srv:
        listed = {m["name"]: m for m in (await srv.client.get("/v1/catalog")).json()["models"]["checkpoints"]}
        assert listed[REFINER]["architecture"] == "sdxl_refiner"
        assert listed["playground-tiny.safetensors"]["architecture"] == "unknown"
        assert "Playground v2.5" in listed["playground-tiny.safetensors"]["note"]

        body = {**SMALL, "prompt": "a lighthouse at dusk", "base_model_name": "tiny-sdxl.safetensors",
                "refiner_model_name": REFINER, "refiner_switch": 0.5, "refiner_swap_method": "joint"}
        r = await srv.client.post("/v1/jobs?id=refined", json=body)
        assert r.status_code == 202, r.text
        events = await sse_events(srv.client, "/v1/jobs/refined/events")
        assert events[-1][0] == "finished", events[-1][1].get("error")
        job = await poll(srv.client, "refined", "succeeded")
        task = job["normalized"]["tasks"][0]
        assert task["refiner"]["name"] == REFINER and task["refiner_swap_method"] == "joint"
        assert not any("became vae" in w or "refiner" in w for w in job.get("warnings", []))
        assert (await srv.client.get(job["images"][0]["url"])).status_code == 200

        for bad, field, words in (
            ({"base_model_name": REFINER}, "base_model_name", "refiner-architecture"),
            ({"base_model_name": "tiny-sd15.safetensors", "refiner_model_name": REFINER}, "refiner_model_name",
             "SD 1.5"),
        ):
            r = await srv.client.post("/v1/jobs", json={**SMALL, "prompt": "a", **bad})
            assert r.status_code == 422, (bad, r.text)
            error = r.json()["error"]
            assert error["field"] == f"$.{field}" and words in error["message"], error

        r = await srv.client.post("/v1/jobs?id=pg", json={**SMALL, "prompt": "a",
                                                          "base_model_name": "playground-tiny.safetensors"})
        assert r.status_code == 202, r.text
        failed = await poll(srv.client, "pg", "failed", timeout=300)
        message = failed["error"]["message"]
        assert "playground-tiny.safetensors" in message and "Playground v2.5" in message, message
