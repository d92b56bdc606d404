"""The input panel's Image Prompt tab in chromium, on the colour test server with Fooocus's image-prompt files
installed except PyraCanny's: the prompts reach the job as uploads with their types, stops and weights
(Fooocus's defaults per type, followed until the user sets another value), mixed with Vary; the type that
cannot run is offered disabled with the file it lacks; a refusal naming image_prompts[i] shows at its slot."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from bench.harness.settings import make_catalog, server_settings
from tests.orchestrator.catalog.catalog_samples import write_models
from tests.orchestrator.server_thread import ServerThread
from tests.ui.conftest import open_page, shot
from tests.ui.input_image_helpers import job_ids, png_file, small_job, submitted, upload_bytes

# Fooocus's model files (modules/config.py names), PyraCanny's control-lora left out.
FILES = {
    "controlnet": ["fooocus_xl_cpds_128.safetensors", "ip-adapter-plus_sdxl_vit-h.bin",
                   "ip-adapter-plus-face_sdxl_vit-h.bin", "fooocus_ip_negative.safetensors"],
    "clip_vision": ["clip_vision_vit_h.safetensors"],
}
MISSING = "control-lora-canny-rank128.safetensors"
# Fooocus's modules/flags.py default_parameters: type → (stop, weight).
FOOOCUS_DEFAULTS = {"ImagePrompt": (0.5, 0.6), "FaceSwap": (0.9, 0.75), "PyraCanny": (0.5, 1.0), "CPDS": (0.5, 1.0)}


@pytest.fixture(scope="module")
def ip_server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ui-ip-server")
    write_models(make_catalog(tmp) / "models", FILES)
    with ServerThread(server_settings(tmp, step_delay=0.02)) as srv:
        yield srv


@pytest.fixture
def ip_page(browser, ip_server):
    page, errors = open_page(browser, ip_server.url)
    page.wait_for_selector("body[data-ready=true]")
    yield page
    page.context.close()
    errors.check()


def slot(page, i: int):
    return page.locator(f"[data-slot=ip{i}]")


def stop_weight(page, i: int) -> tuple[float, float]:
    s = slot(page, i)
    return float(s.locator(".ip-stop").input_value()), float(s.locator(".ip-weight").input_value())


def test_image_prompts_reach_the_job_with_vary(ip_page, ip_server, tmp_path) -> None:
    page = ip_page
    small_job(page, "a lighthouse at dusk")
    page.check("#input-on")
    page.click("#input-tab-ip")
    expect(slot(page, 0)).to_be_visible()
    assert page.locator("[data-slot^=ip]").count() == 4

    # The type that cannot run: offered disabled, its missing file and folder said.
    canny = slot(page, 0).locator(".ip-type option[value=PyraCanny]")
    expect(canny).to_be_disabled()
    assert MISSING in canny.get_attribute("title") and "models/controlnet" in canny.get_attribute("title")
    expect(page.locator("#ip-notes")).to_contain_text(f"PyraCanny is unavailable: {MISSING} is not installed")
    expect(slot(page, 0).locator(".ip-type option[value=CPDS]")).to_be_enabled()

    # Every slot starts at Fooocus's default type and its defaults; a type change brings the new type's.
    assert slot(page, 0).locator(".ip-type").input_value() == "ImagePrompt"
    assert stop_weight(page, 0) == FOOOCUS_DEFAULTS["ImagePrompt"]
    slot(page, 0).locator(".ip-type").select_option("FaceSwap")
    assert stop_weight(page, 0) == FOOOCUS_DEFAULTS["FaceSwap"]
    slot(page, 0).locator(".ip-type").select_option("CPDS")
    assert stop_weight(page, 0) == FOOOCUS_DEFAULTS["CPDS"]
    # A weight the user set stays through a type change; the stop, left alone, follows the type.
    slot(page, 2).locator(".ip-weight").fill("1.3")
    slot(page, 2).locator(".ip-type").select_option("FaceSwap")
    assert stop_weight(page, 2) == (FOOOCUS_DEFAULTS["FaceSwap"][0], 1.3)
    # Set back to the type's default, it follows the type again.
    slot(page, 2).locator(".ip-weight").fill("0.75")
    slot(page, 2).locator(".ip-type").select_option("ImagePrompt")
    assert stop_weight(page, 2) == FOOOCUS_DEFAULTS["ImagePrompt"]
    slot(page, 2).locator(".ip-stop").fill("0.35")

    files = [png_file(tmp_path / f"ip{i}.png", 48, 40, seed=30 + i) for i in (0, 2)]
    slot(page, 0).locator("input[type=file]").set_input_files(str(files[0]))
    slot(page, 2).locator("input[type=file]").set_input_files(str(files[1]))
    expect(slot(page, 2).locator(".slot-status")).to_contain_text("48×40")
    expect(page.locator("#ip-count")).to_have_text("2")
    page.click("#input-ip .advanced summary")
    page.fill("[name=canny_low_threshold]", "40")
    page.check("[name=skipping_cn_preprocessor]")
    shot(page, "input-image-prompts", full_page=True)

    # Image prompts go with the tab shown: here Vary (Subtle) of another image.
    page.click("#input-tab-uov")
    vary = png_file(tmp_path / "vary.png", 64, 48, seed=40)
    page.set_input_files("[name=uov_input_image]", str(vary))
    expect(page.locator("[data-slot=uov] .slot-status")).to_contain_text("64×48")
    before = job_ids(ip_server)
    page.click("#generate")
    job = submitted(ip_server, before)
    assert job["status"] == "succeeded", job.get("error")
    request = job["request"]
    prompts = request["image_prompts"]
    assert [(p["type"], p["stop"], p["weight"]) for p in prompts] == [("CPDS", 0.5, 1.0), ("ImagePrompt", 0.35, 0.6)]
    assert [upload_bytes(ip_server, p["image"]) for p in prompts] == [f.read_bytes() for f in files]
    assert request["canny_low_threshold"] == 40 and request["skipping_cn_preprocessor"] is True
    # The knobs left at what the preset gives are not sent.
    assert "canny_high_threshold" not in request and "controlnet_softness" not in request
    assert request["uov_method"] == "Vary (Subtle)" and upload_bytes(ip_server, request["uov_input_image"]) == vary.read_bytes()
    # The worker got them: the task carries each prompt with its model file.
    task = job["normalized"]["tasks"][0]
    assert [p["model"]["name"] for p in task["image_prompts"]] == ["fooocus_xl_cpds_128.safetensors",
                                                                   "ip-adapter-plus_sdxl_vit-h.bin"]

    # The Image Prompt tab shown: only the prompts go (no Vary); a weight past 2 is refused by the server, which
    # names the second prompt sent, the third slot.
    page.click("#input-tab-ip")
    slot(page, 2).locator(".ip-weight").fill("2.5")
    before = job_ids(ip_server)
    page.click("#generate")
    error = slot(page, 2).locator("[data-field='image_prompts[2].weight'] .field-error")
    expect(error).to_be_visible()
    assert "2" in error.inner_text()
    expect(slot(page, 0).locator(".field-error")).to_have_count(0)
    assert job_ids(ip_server) == before
    slot(page, 2).locator(".ip-weight").fill("0.8")
    page.click("#generate")
    job = submitted(ip_server, before)
    assert job["status"] == "succeeded", job.get("error")
    assert "uov_method" not in job["request"] and "uov_input_image" not in job["request"]
    assert [p["weight"] for p in job["request"]["image_prompts"]] == [1.0, 0.8]
