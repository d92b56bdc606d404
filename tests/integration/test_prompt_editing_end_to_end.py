"""AUTOMATIC1111's prompt editing end to end through its Python client `webuiapi`: the real server and the real
diffusers worker on the tiny SDXL. `a [cat:dog:0.5]` at 4 steps runs as A1111's schedule (2, "a cat"),
(4, "a dog") — twice the steps for Heun, which A1111 counts by model calls; the infotext and the PNG keep the
prompt as written, brackets and all; hires fix schedules its second pass anew, styles wrap each scheduled prompt
and img2img counts the schedule over its steps, as A1111 does; what the schedule cannot run with is refused
naming A1111's field."""

from __future__ import annotations

import json

import httpx
import pytest
import webuiapi
from PIL import Image

from tests.integration.webui_client import TINY, last_job, webui

PROMPT = "a [cat:dog:0.5], (detailed:1.2)"


@pytest.fixture
def api(tiny_server) -> webuiapi.WebUIApi:
    return webui(tiny_server, "Euler", 4)


def _last_task(tiny_server) -> dict:
    return last_job(tiny_server)["normalized"]["tasks"][0]


def test_prompt_editing_runs_and_the_infotext_keeps_the_prompt(tiny_server, api) -> None:
    r = api.txt2img(prompt=PROMPT, negative_prompt="[blurry|ugly]", seed=5, width=256, height=256,
                    override_settings=TINY)
    assert len(r.images) == 1 and r.images[0].size == (256, 256)
    text = r.info["infotexts"][0]
    assert text.startswith(PROMPT + "\nNegative prompt: [blurry|ugly]\n")
    assert r.info["all_prompts"] == [PROMPT]
    found = api.png_info(r.images[0]).parameters
    assert found["Prompt"] == PROMPT and found["Negative prompt"] == "[blurry|ugly]"
    task = _last_task(tiny_server)
    # The negative alternates every step, the positive changes after step 2 (A1111's weights translated).
    assert [(e["until_step"], e["positive"], e["negative"]) for e in task["prompt_schedule"]] == [
        (1, ["a cat, (detailed:1.2)"], ["blurry"]), (2, ["a cat, (detailed:1.2)"], ["ugly"]),
        (3, ["a dog, (detailed:1.2)"], ["blurry"]), (4, ["a dog, (detailed:1.2)"], ["ugly"])]
    assert (task["positive"], task["negative"]) == (["a cat, (detailed:1.2)"], ["blurry"])


def test_a_sampler_with_two_calls_a_step_gets_a_schedule_over_twice_the_steps(tiny_server, api) -> None:
    api.txt2img(prompt="a [cat:dog:0.5]", seed=5, width=256, height=256, sampler_name="Heun", steps=2,
                override_settings=TINY)
    assert [(e["until_step"], e["positive"]) for e in _last_task(tiny_server)["prompt_schedule"]] == [
        (2, ["a cat"]), (4, ["a dog"])]


def test_hires_fix_schedules_its_second_pass_anew(tiny_server, api) -> None:
    """A1111 recomputes the schedule for the hires pass over its own steps: [cat:dog:0.5] at 4 first-pass steps is
    (2, cat) (4, dog), at 6 second-pass steps (3, cat) (6, dog)."""
    r = api.txt2img(prompt="a [cat:dog:0.5]", seed=5, width=256, height=256, enable_hr=True, hr_scale=1.5,
                    hr_second_pass_steps=6, denoising_strength=0.5, override_settings=TINY)
    assert r.images[0].size == (384, 384)
    task = _last_task(tiny_server)
    assert [(e["until_step"], e["positive"]) for e in task["prompt_schedule"]] == [(2, ["a cat"]), (4, ["a dog"])]
    assert [(e["until_step"], e["positive"]) for e in task["hires"]["prompt_schedule"]] == [
        (3, ["a cat"]), (6, ["a dog"])]


def test_styles_wrap_each_scheduled_prompt(tiny_server, api) -> None:
    api.txt2img(prompt="a [cat:dog:0.5]", seed=5, width=256, height=256, styles=["Remgo Sharp"],
                override_settings=TINY)
    entries = _last_task(tiny_server)["prompt_schedule"]
    assert [e["positive"][0].split(",")[0] for e in entries] == ["a cat", "a dog"]
    assert all("crisp focus" in e["positive"][0] for e in entries)


def test_img2img_counts_the_schedule_over_its_steps(tiny_server, api) -> None:
    """A1111's img2img (here with a mask: A1111's inpainting, whose size is the image's) counts the schedule over
    the steps it runs, from the first."""
    picture = Image.new("RGB", (256, 256), (180, 60, 40))
    mask = Image.new("L", (256, 256), 0)
    mask.paste(255, (64, 64, 192, 192))
    r = api.img2img(images=[picture], mask_image=mask, prompt="a [cat:dog:0.5]", seed=5, denoising_strength=0.5,
                    override_settings=TINY)
    assert r.images[0].size == (256, 256)
    task = _last_task(tiny_server)
    assert task["image_input"]["method"] == "inpaint" and "a1111" in task["image_input"]
    assert [(e["until_step"], e["positive"]) for e in task["prompt_schedule"]] == [(2, ["a cat"]), (4, ["a dog"])]


def test_a_refiner_goes_on_reading_the_schedule(tiny_server, api) -> None:
    """A1111's refiner takes over inside the run and its evaluations continue the schedule's count: remgo's joint
    swap, with the schedule on both models."""
    body = {"prompt": "a [cat:dog:0.5]", "seed": 5, "width": 256, "height": 256, "steps": 4, "sampler_name": "Euler",
            "refiner_checkpoint": "tiny-sdxl-diffusers", "refiner_switch_at": 0.5, "override_settings": TINY}
    r = httpx.post(f"{tiny_server.url}/sdapi/v1/txt2img", json=body, timeout=120)  # webuiapi has no refiner knobs
    assert r.status_code == 200, r.text
    assert "Refiner: tiny-sdxl-diffusers," in json.loads(r.json()["info"])["infotexts"][0]
    task = _last_task(tiny_server)
    assert task["refiner"]["name"] == "tiny-sdxl-diffusers" and task["refiner_swap_method"] == "joint"
    assert [(e["until_step"], e["positive"]) for e in task["prompt_schedule"]] == [(2, ["a cat"]), (4, ["a dog"])]


@pytest.mark.parametrize(("changes", "field"), [
    ({"prompt": "a [cat:dog:0.5] BREAK x"}, "prompt"),
    ({"styles": ["Fooocus V2"]}, "styles"),  # its prompt expansion: which entry would it expand?
])
def test_what_a_schedule_cannot_run_with_is_refused_by_name(tiny_server, changes, field) -> None:
    body = {"prompt": "a [cat:dog:0.5]", "width": 256, "height": 256, "steps": 2, "sampler_name": "Euler",
            "override_settings": TINY, **changes}
    r = httpx.post(f"{tiny_server.url}/sdapi/v1/txt2img", json=body, timeout=60)
    assert r.status_code == 422 and r.json()["field"] == field, r.text
