"""Hires fix end to end through AUTOMATIC1111's API with its Python client `webuiapi`: the real server and the
real diffusers worker on the tiny SDXL. The images come back at A1111's target size; `info` reports the
first pass's size, as A1111's does, with the hires keys of its infotext; the PNG's text reads back; the
job's progress counts both passes; what needs a super-resolution model is refused naming `hr_upscaler`."""

from __future__ import annotations

import httpx
import pytest
import webuiapi

from tests.integration.webui_client import TINY, webui


@pytest.fixture
def api(tiny_server) -> webuiapi.WebUIApi:
    return webui(tiny_server, "Euler", 2)


def test_hires_by_scale_returns_the_target_size_and_a1111s_info(tiny_server, api) -> None:
    r = api.txt2img(prompt="a lighthouse", seed=4, width=256, height=320, enable_hr=True, hr_scale=1.5,
                    hr_upscaler="Latent", hr_second_pass_steps=1, denoising_strength=0.5,
                    override_settings=TINY)
    assert [img.size for img in r.images] == [(384, 480)]  # 256 × 1.5, 320 × 1.5
    info = r.info
    assert (info["width"], info["height"], info["denoising_strength"]) == (256, 320, 0.5)
    assert info["extra_generation_params"] == {"Schedule type": "Uniform", "Hires upscale": 1.5, "Hires steps": 1,
                                               "Hires upscaler": "Latent"}
    text = info["infotexts"][0]
    assert "Size: 256x320" in text and "Denoising strength: 0.5" in text and "Hires upscale: 1.5" in text
    assert api.png_info(r.images[0]).info == text  # the PNG carries the same text
    jobs = httpx.get(f"{tiny_server.url}/v1/jobs").json()["jobs"]
    job = httpx.get(f"{tiny_server.url}/v1/jobs/{jobs[0]['id']}").json()
    task = job["normalized"]["tasks"][0]
    assert (task["width"], task["height"], task["hires"]["width"], task["hires"]["height"]) == (256, 320, 384, 480)
    assert job["progress"]["total"] == 3 and job["progress"]["step"] == 3  # 2 first-pass steps + 1


def test_hires_by_resize_with_a_pixel_upscaler_crops_as_a1111(api) -> None:
    # 256×256 first pass, target 320×256: cover 320×320, drop (320 − 256) // 8 = 8 latent rows
    r = api.txt2img(prompt="a lighthouse", seed=4, width=256, height=256, enable_hr=True, hr_resize_x=320,
                    hr_resize_y=256, hr_upscaler="Lanczos", hr_second_pass_steps=1, denoising_strength=0.4,
                    override_settings=TINY)
    assert [img.size for img in r.images] == [(320, 256)]
    assert r.info["extra_generation_params"]["Hires resize"] == "320x256"


@pytest.mark.parametrize(("changes", "field"), [
    ({"hr_upscaler": "R-ESRGAN 4x+"}, "hr_upscaler"),
    ({"hr_sampler_name": "DPM++ 2M"}, "hr_sampler_name"),
    ({"hr_prompt": "another prompt"}, "hr_prompt"),
    ({"hr_scale": 8}, "hr_scale"),
])
def test_what_cannot_run_is_refused_by_name(tiny_server, changes, field) -> None:
    body = {"prompt": "a lighthouse", "width": 256, "height": 256, "steps": 2, "sampler_name": "Euler",
            "enable_hr": True, "override_settings": TINY, **changes}
    r = httpx.post(f"{tiny_server.url}/sdapi/v1/txt2img", json=body, timeout=60)
    assert r.status_code == 422 and r.json()["field"] == field, r.text
