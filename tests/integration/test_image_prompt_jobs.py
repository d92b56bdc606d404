"""Image-prompt jobs through the real orchestrator and worker processes (the colour test kernel, whose image
derives from every task field, the prompts' image bytes included): the catalog offering the types whose
Fooocus files are installed, the task carrying each prompt with its models, stop and weight, the bytes
reaching the worker from the input store, the metadata and the history recording the prompts."""

from __future__ import annotations

import base64
import hashlib
import io

import pytest
from PIL import Image

from bench.harness.in_process import running
from bench.harness.settings import SMALL, make_catalog, server_settings
from orchestrator.store.metadata.image_io import read_embedded
from orchestrator.store.metadata.text import parse
from tests.orchestrator.catalog.catalog_samples import write_models

pytestmark = pytest.mark.anyio

FOOOCUS_FILES = {
    "controlnet": ["control-lora-canny-rank128.safetensors", "fooocus_xl_cpds_128.safetensors",
                   "ip-adapter-plus_sdxl_vit-h.bin", "fooocus_ip_negative.safetensors"],
    "clip_vision": ["clip_vision_vit_h.safetensors"],
}


def png(color) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (96, 64), color).save(out, "PNG")
    return out.getvalue()


async def finished(srv, body: dict) -> dict:
    r = await srv.client.post("/v1/jobs?wait=true", json={**SMALL, **body})
    assert r.status_code == 200, r.text
    job = r.json()
    assert job["status"] == "succeeded", job
    return job


async def pixels(srv, job: dict) -> bytes:
    r = await srv.client.get(job["images"][0]["url"])
    return Image.open(io.BytesIO(r.content)).tobytes()


async def test_image_prompts_run_end_to_end_and_are_recorded(tmp_path) -> None:
    write_models(make_catalog(tmp_path) / "models", FOOOCUS_FILES)
    async with running(server_settings(tmp_path)) as srv:
        types = {t["type"]: t for t in (await srv.client.get("/v1/catalog")).json()["image_prompt_types"]}
        # The worker's kernel reports all four; FaceSwap's adapter is not installed.
        assert [name for name, t in types.items() if t["available"]] == ["ImagePrompt", "PyraCanny", "CPDS"]
        assert types["FaceSwap"]["missing"][0]["file"] == "ip-adapter-plus-face_sdxl_vit-h.bin"

        red, blue = png((200, 30, 30)), png((20, 40, 220))
        body = {"image_prompts": [{"image": base64.b64encode(red).decode(), "type": "PyraCanny", "weight": 1.4},
                                  {"image": base64.b64encode(blue).decode()}],
                "canny_low_threshold": 30}
        job = await finished(srv, body)
        task = job["normalized"]["tasks"][0]
        shas = [hashlib.sha256(red).hexdigest(), hashlib.sha256(blue).hexdigest()]
        assert [(p["type"], p["stop"], p["weight"], p["model"]["name"], p["image"]["sha256"])
                for p in task["image_prompts"]] == [
            ("PyraCanny", 0.5, 1.4, "control-lora-canny-rank128.safetensors", shas[0]),
            ("ImagePrompt", 0.5, 0.6, "ip-adapter-plus_sdxl_vit-h.bin", shas[1])]
        assert task["image_prompts"][1]["image_encoder"]["name"] == "clip_vision_vit_h.safetensors"
        assert task["image_prompts"][1]["ip_negative"]["name"] == "fooocus_ip_negative.safetensors"
        assert task["control"]["canny_low"] == 30 and task["control"]["canny_high"] == 128
        assert job["request"]["image_prompts"][0]["image"] == {"upload_id": shas[0]}  # no inline image kept

        # Other image bytes make another image: the worker got the files, not just their names.
        swapped = await finished(srv, {**body, "image_prompts": [{**body["image_prompts"][0],
                                                                   "image": {"upload_id": shas[1]}},
                                                                  body["image_prompts"][1]]})
        assert await pixels(srv, swapped) != await pixels(srv, job)

        r = await srv.client.get(job["images"][0]["url"])
        params = parse(read_embedded(r.content)["parameters"])
        assert [(p.type, p.stop, p.weight, p.image_sha256) for p in params.image_prompts] == [
            ("PyraCanny", 0.5, 1.4, shas[0]), ("ImagePrompt", 0.5, 0.6, shas[1])]
        plain = await finished(srv, {})
        history = (await srv.client.get("/v1/history", params={"image_prompts": "true"})).json()["items"]
        assert {item["id"] for item in history} == {job["images"][0]["history_id"],
                                                    swapped["images"][0]["history_id"]}
        canny = (await srv.client.get("/v1/history", params={"image_prompt_type": "pyracanny"})).json()["items"]
        assert plain["images"][0]["history_id"] not in {item["id"] for item in canny} and len(canny) == 2

        missing = await srv.client.post("/v1/jobs", json={**body, "image_prompts": [
            {"image": {"upload_id": shas[0]}, "type": "FaceSwap"}]})
        assert missing.status_code == 422, missing.text
        error = missing.json()["error"]
        assert error["field"] == "$.image_prompts[0].type" and "ip-adapter-plus-face_sdxl_vit-h.bin" in error["message"]
