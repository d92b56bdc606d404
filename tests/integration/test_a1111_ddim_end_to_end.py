"""AUTOMATIC1111's DDIM end to end through its Python client `webuiapi`: the real server and the real diffusers
worker on the tiny SDXL. `sampler_name="DDIM"` runs remgo's `ddim` sampler on the `a1111_ddim` schedule (A1111's
own timesteps, tests/inference_worker/diffusers_kernel/sampling/test_a1111_ddim.py); the infotext says `Sampler: DDIM`;
webuiapi's default eta (1.0, DDIM's stochastic form) is refused naming `eta`."""

from __future__ import annotations

import httpx
import pytest
import webuiapi

from tests.integration.webui_client import webui

TINY = {"sd_model_checkpoint": "tiny-sdxl"}


@pytest.fixture(scope="module")
def server(tiny_server):
    return tiny_server


@pytest.fixture
def api(server) -> webuiapi.WebUIApi:
    return webui(server, "DDIM", 4)


def test_ddim_runs_on_a1111s_timesteps_and_says_so(server, api) -> None:
    assert "DDIM" in [s["name"] for s in api.get_samplers()]
    r = api.txt2img(prompt="a lighthouse", seed=4, width=256, height=256, eta=0, override_settings=TINY)
    assert [img.size for img in r.images] == [(256, 256)]
    text = r.info["infotexts"][0]
    assert "Sampler: DDIM," in text and "Steps: 4," in text and r.info["sampler_name"] == "DDIM"
    assert api.png_info(r.images[0]).parameters["Sampler"] == "DDIM"
    jobs = httpx.get(f"{server.url}/v1/jobs").json()["jobs"]
    job = httpx.get(f"{server.url}/v1/jobs/{jobs[0]['id']}").json()
    task = job["normalized"]["tasks"][0]
    assert (task["sampler"], task["scheduler"], task["steps"]) == ("ddim", "a1111_ddim", 4)
    assert job["status"] == "succeeded"


def test_webuiapis_default_eta_is_refused_by_name(api) -> None:
    with pytest.raises(RuntimeError) as refused:
        api.txt2img(prompt="a lighthouse", width=256, height=256, override_settings=TINY)  # eta 1.0
    status, text = refused.value.args
    assert status == 422 and '"field":"eta"' in text
