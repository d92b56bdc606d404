"""AUTOMATIC1111's UniPC and PLMS end to end through its Python client `webuiapi`: the real server and the real diffusers
worker on the tiny SDXL. `sampler_name="UniPC"` runs remgo's `uni_pc` sampler on the `a1111_unipc` schedule (A1111's
own UniPC times, tests/inference_worker/diffusers_kernel/sampling/test_a1111_unipc.py) with the UNet at fractional
timesteps, as every request of this face runs (A1111's `enable_quantization` is off); the infotext says
`Sampler: UniPC`; the face's options report A1111's UniPC defaults, and another value is refused. `PLMS` runs
remgo's `plms` on A1111's DDIM timesteps (test_a1111_plms.py), webuiapi's default eta ignored as A1111 ignores it.
Variation seeds (`subseed`, `subseed_strength`) run as A1111 numbers them: every image keeps the seed, image i
takes the subseed + i, and the infotext carries A1111's `Variation seed` keys."""

from __future__ import annotations

import httpx
import pytest
import webuiapi

from tests.integration.webui_client import TINY, last_job, webui


def sampled(server, api: webuiapi.WebUIApi, sampler: str, steps: int) -> tuple[dict, dict]:
    """One 256² txt2img as the client sends it, its infotext's sampler and steps checked (in the response and
    in the PNG); the job and its task."""
    r = api.txt2img(prompt="a lighthouse", seed=4, width=256, height=256, override_settings=TINY)
    assert [img.size for img in r.images] == [(256, 256)]
    text = r.info["infotexts"][0]
    assert f"Sampler: {sampler}," in text and f"Steps: {steps}," in text and r.info["sampler_name"] == sampler
    assert api.png_info(r.images[0]).parameters["Sampler"] == sampler
    job = last_job(server)
    return job, job["normalized"]["tasks"][0]


@pytest.fixture
def api(tiny_server) -> webuiapi.WebUIApi:
    return webui(tiny_server, "UniPC", 7)


def test_unipc_runs_on_a1111s_times_and_says_so(tiny_server, api) -> None:
    assert "UniPC" in [s["name"] for s in api.get_samplers()]
    job, task = sampled(tiny_server, api, "UniPC", 7)
    assert (task["sampler"], task["scheduler"], task["steps"], task["unet_timestep"]) == (
        "uni_pc", "a1111_unipc", 7, "interpolated")
    # A1111 runs UniPC with steps = its 8 DDIM timesteps of 7 (1000 // 7 = 142): eight model steps
    assert job["status"] == "succeeded" and (job["progress"]["step"], job["progress"]["total"]) == (8, 8)


def test_every_sampler_of_the_face_reads_fractional_timesteps(tiny_server) -> None:
    r = webui(tiny_server, "Euler", 2).txt2img(prompt="a lighthouse", width=256, height=256, override_settings=TINY)
    assert r.images
    assert last_job(tiny_server)["normalized"]["tasks"][0]["unet_timestep"] == "interpolated"


def test_sampling_options_are_a1111s_and_fixed(tiny_server, api) -> None:
    """UniPC's defaults, no quantization, and the noise of A1111's CPU random source: reported, not changeable."""
    options = api.get_options()
    assert (options["uni_pc_variant"], options["uni_pc_order"], options["uni_pc_skip_type"],
            options["uni_pc_lower_order_final"], options["enable_quantization"], options["randn_source"]) == (
        "bh1", 3, "time_uniform", True, False, "CPU")
    for key, value in (("uni_pc_order", 2), ("enable_quantization", True), ("randn_source", "GPU")):
        r = httpx.post(f"{tiny_server.url}/sdapi/v1/options", json={key: value})
        assert r.status_code == 422 and key in r.text


def test_fewer_than_three_steps_are_refused_by_name(tiny_server) -> None:
    with pytest.raises(RuntimeError) as refused:
        webui(tiny_server, "UniPC", 2).txt2img(prompt="a lighthouse", width=256, height=256, override_settings=TINY)
    status, text = refused.value.args
    assert status == 422 and '"field":"steps"' in text


def test_plms_runs_on_a1111s_ddim_timesteps_and_says_so(tiny_server) -> None:
    job, task = sampled(tiny_server, webui(tiny_server, "PLMS", 4), "PLMS", 4)  # webuiapi sends eta 1.0
    assert (task["sampler"], task["scheduler"], task["steps"]) == ("plms", "a1111_ddim", 4)
    assert job["status"] == "succeeded" and job["progress"]["total"] == 3  # timesteps 751, 501, 251, 1


def test_variation_seeds_run_and_are_numbered_as_a1111_numbers_them(tiny_server) -> None:
    api = webui(tiny_server, "Euler a", 3)
    common = dict(prompt="a lighthouse", seed=4, width=256, height=256, batch_size=2, override_settings=TINY)
    plain = api.txt2img(**common)
    varied = api.txt2img(**common, subseed=40, subseed_strength=0.5)
    info = varied.info
    assert (info["all_seeds"], info["all_subseeds"], info["subseed_strength"]) == ([4, 4], [40, 41], 0.5)
    assert "Variation seed: 41, Variation seed strength: 0.5" in info["infotexts"][1]
    found = api.png_info(varied.images[1]).parameters
    assert (found["Variation seed"], found["Variation seed strength"]) == ("41", "0.5")
    assert plain.info["all_seeds"] == [4, 5]  # without a strength the seeds go on as usual
    assert varied.images[0].tobytes() != plain.images[0].tobytes()
    # one seed, two variation seeds: the two pictures of the varied batch differ from each other too
    assert varied.images[0].tobytes() != varied.images[1].tobytes()
    task = last_job(tiny_server)["normalized"]["tasks"][0]
    assert task["seeds"] == [4, 4] and task["variation"] == {"seeds": [40, 41], "strength": 0.5}
