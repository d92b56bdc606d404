"""AUTOMATIC1111's DDIM end to end through its Python client `webuiapi`: the real server and the real diffusers
worker on the tiny SDXL. `sampler_name="DDIM"` runs remgo's `ddim` sampler on the `a1111_ddim` schedule (A1111's
own timesteps, tests/inference_worker/diffusers_kernel/sampling/test_a1111_ddim.py) at eta 0, and `euler_ancestral` on
it at webuiapi's default eta 1.0; the infotext says `Sampler: DDIM` either way (and `Eta DDIM: 1.0` at eta 1, as A1111
writes a non-default eta); an eta between is refused naming `eta`. A finished job counts A1111's model steps."""

from __future__ import annotations

import pytest
import webuiapi

from tests.integration.webui_client import TINY, last_job, webui


@pytest.fixture
def api(tiny_server) -> webuiapi.WebUIApi:
    return webui(tiny_server, "DDIM", 4)


def test_ddim_runs_on_a1111s_timesteps_and_says_so(tiny_server, api) -> None:
    assert "DDIM" in [s["name"] for s in api.get_samplers()]
    r = api.txt2img(prompt="a lighthouse", seed=4, width=256, height=256, eta=0, override_settings=TINY)
    assert [img.size for img in r.images] == [(256, 256)]
    text = r.info["infotexts"][0]
    assert "Sampler: DDIM," in text and "Steps: 4," in text and r.info["sampler_name"] == "DDIM"
    assert "Eta DDIM" not in text  # A1111 writes its eta only when not its default 0
    assert api.png_info(r.images[0]).parameters["Sampler"] == "DDIM"
    job = last_job(tiny_server)
    task = job["normalized"]["tasks"][0]
    assert (task["sampler"], task["scheduler"], task["steps"]) == ("ddim", "a1111_ddim", 4)
    assert job["status"] == "succeeded"
    # 4 steps are the timesteps 751, 501, 251 and 1: three model steps, which the finished job counts
    assert (job["progress"]["step"], job["progress"]["total"]) == (3, 3)


def test_webuiapis_default_eta_runs_ddim_at_eta_one(tiny_server, api) -> None:
    r = api.txt2img(prompt="a lighthouse", seed=4, width=256, height=256, override_settings=TINY)  # eta 1.0
    assert [img.size for img in r.images] == [(256, 256)]
    text = r.info["infotexts"][0]
    assert "Sampler: DDIM," in text and "Eta DDIM: 1.0," in text and r.info["sampler_name"] == "DDIM"
    assert r.info["extra_generation_params"]["Eta DDIM"] == 1.0
    found = api.png_info(r.images[0]).parameters
    assert (found["Sampler"], found["Eta DDIM"]) == ("DDIM", "1.0")
    job = last_job(tiny_server)
    task = job["normalized"]["tasks"][0]
    assert (task["sampler"], task["scheduler"], task["steps"]) == ("euler_ancestral", "a1111_ddim", 4)
    assert job["status"] == "succeeded" and job["progress"]["total"] == 3


@pytest.mark.parametrize("eta", [0.5, 2.0])
def test_an_eta_ddim_is_not_run_at_is_refused_by_name(api, eta) -> None:
    with pytest.raises(RuntimeError) as refused:
        api.txt2img(prompt="a lighthouse", width=256, height=256, eta=eta, override_settings=TINY)
    status, text = refused.value.args
    assert status == 422 and '"field":"eta"' in text
