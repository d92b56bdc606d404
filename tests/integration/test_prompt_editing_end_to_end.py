"""AUTOMATIC1111's prompt editing end to end through its Python client `webuiapi`: the real server and the real
diffusers worker on the tiny SDXL. `a [cat:dog:0.5]` at 4 steps runs as A1111's schedule (2, "a cat"),
(4, "a dog") — twice the steps for Heun, which A1111 counts by model calls; the infotext and the PNG keep the
prompt as written, brackets and all; what the schedule cannot run with is refused naming A1111's field."""

from __future__ import annotations

import httpx
import pytest
import webuiapi

from tests.integration.webui_client import TINY, webui

PROMPT = "a [cat:dog:0.5], (detailed:1.2)"


@pytest.fixture
def api(tiny_server) -> webuiapi.WebUIApi:
    return webui(tiny_server, "Euler", 4)


def _last_task(tiny_server) -> dict:
    jobs = httpx.get(f"{tiny_server.url}/v1/jobs").json()["jobs"]
    return httpx.get(f"{tiny_server.url}/v1/jobs/{jobs[0]['id']}").json()["normalized"]["tasks"][0]


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


@pytest.mark.parametrize(("changes", "field"), [
    ({"enable_hr": True, "hr_scale": 1.5}, "prompt"),
    ({"styles": ["Remgo Photograph"]}, "styles"),
    ({"prompt": "a [cat:dog:0.5] BREAK x"}, "prompt"),
])
def test_what_a_schedule_cannot_run_with_is_refused_by_name(tiny_server, changes, field) -> None:
    body = {"prompt": "a [cat:dog:0.5]", "width": 256, "height": 256, "steps": 2, "sampler_name": "Euler",
            "override_settings": TINY, **changes}
    r = httpx.post(f"{tiny_server.url}/sdapi/v1/txt2img", json=body, timeout=60)
    assert r.status_code == 422 and r.json()["field"] == field, r.text
