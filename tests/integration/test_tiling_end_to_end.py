"""Seamless tiling end to end: the real server and the real diffusers worker on the tiny SDXL, asked through
/v1/jobs and through AUTOMATIC1111's API with its Python client `webuiapi`.

A tiling job succeeds and its images say so in their metadata; the worker keeps its models between jobs, and a
plain job after the tiling one gives the same pixels as the same job before it (the padding was put back).
"""

from __future__ import annotations

import io
import json

import httpx
import numpy as np
from PIL import Image

from tests.integration.webui_client import webui
from tests.orchestrator.server_thread import wait_job

BODY = {"prompt": "a brick wall", "base_model_name": "tiny-sdxl.safetensors", "image_number": 1, "image_seed": 11,
        "overwrite_width": 256, "overwrite_height": 256, "overwrite_step": 2, "style_selections": [], "loras": [],
        "sampler_name": "euler", "scheduler_name": "karras", "refiner_model_name": "None"}


def job_image(client: httpx.Client, job_id: str, body: dict) -> Image.Image:
    r = client.post(f"/v1/jobs?id={job_id}", json=body)
    assert r.status_code == 202, r.text
    job = wait_job(client, job_id, {"succeeded", "failed", "cancelled"}, timeout=180)
    assert job["status"] == "succeeded", job.get("error")
    return Image.open(io.BytesIO(client.get(job["images"][0]["url"]).content))


def test_a_tiling_job_between_two_plain_ones(tiny_server) -> None:
    with httpx.Client(base_url=tiny_server.url, timeout=60) as client:
        before = job_image(client, "plain-before", BODY)
        tiled = job_image(client, "tiled", {**BODY, "tiling": True})
        after = job_image(client, "plain-after", BODY)
        task = client.get("/v1/jobs/tiled").json()["normalized"]["tasks"][0]
    assert task["tiling"] is True
    assert json.loads(tiled.info["parameters"])["tiling"] is True
    assert "tiling" not in json.loads(before.info["parameters"])
    assert np.array_equal(np.asarray(after), np.asarray(before))  # bit-identical: zero padding is back
    assert not np.array_equal(np.asarray(tiled), np.asarray(before))


def test_the_a1111_face_takes_tiling_and_reports_it(tiny_server) -> None:
    api = webui(tiny_server)
    r = api.txt2img(prompt="a brick wall", seed=5, width=256, height=256, tiling=True,
                    override_settings={"sd_model_checkpoint": "tiny-sdxl"})
    assert len(r.images) == 1 and r.parameters["tiling"] is True
    assert "Tiling: True" in r.info["infotexts"][0].rsplit("\n", 1)[1].split(", ")
    assert r.images[0].info["parameters"] == r.info["infotexts"][0]  # the file carries the same text
    assert api.png_info(r.images[0]).parameters["Tiling"] == "True"
    plain = api.txt2img(prompt="a brick wall", seed=5, width=256, height=256,
                        override_settings={"sd_model_checkpoint": "tiny-sdxl"})
    assert "Tiling" not in plain.info["infotexts"][0]
