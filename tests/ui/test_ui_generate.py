"""The Generate view in chromium: the form from the catalog, live progress and preview, results, Stop/Skip,
the queue panel, errors next to their field, remembered settings, phone size."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from bench.harness.worker_kernels import HOLD, HOLD_AFTER_FIRST
from contract.request import GenerateRequest
from tests.orchestrator.server_thread import wait_job
from tests.ui.conftest import LORA, PHONE, REFINER, newest_jobs, open_page, quick, set_fields, shot


def test_every_request_field_has_a_control_filled_from_the_catalog(page) -> None:
    fields = set(GenerateRequest.__struct_fields__)
    named = set(page.eval_on_selector_all("#gen-form [name]", "els => els.map(e => e.name)"))
    special = {"loras", "style_selections"}  # slot rows and the style picker, not single controls
    assert fields - special <= named, f"no control for {sorted(fields - special - named)}"
    assert page.locator("#lora-slots .lora").count() == 5
    assert page.locator("#style-list .style-item").count() > 10
    expect(page.locator("[name=preset]")).to_have_value("default")
    expect(page.locator("[name=performance_selection]")).to_have_value("Speed")
    expect(page.locator("[name=aspect_ratios_selection]")).to_have_value("1152*896")
    assert page.locator("[name=sampler_name] option").count() > 5
    bases = page.eval_on_selector_all("[name=base_model_name] option", "els => els.map(e => e.value)")
    refiners = page.eval_on_selector_all("[name=refiner_model_name] option", "els => els.map(e => e.value)")
    assert REFINER in refiners and REFINER not in bases  # a refiner-architecture file only refines
    # This install has none of the default preset's styles: none is checked. Selected styles come first, in
    # the order chosen; search narrows the list.
    expect(page.locator("#style-count")).to_have_text("0")
    page.fill("#style-search", "anime")
    page.locator("#style-list .style-item", has_text="Remgo Anime").click()
    page.fill("#style-search", "")
    page.locator("#style-list .style-item", has_text="Remgo Sharp").click()
    first = page.eval_on_selector_all("#style-list .style-item", "els => els.slice(0, 2).map(e => e.innerText)")
    assert first == ["Remgo Anime", "Remgo Sharp"]
    expect(page.locator("#style-count")).to_have_text("2")
    # Choosing a preset fills the form with its values.
    page.select_option("[name=preset]", "anime")
    expect(page.locator("[name=aspect_ratios_selection]")).to_have_value("896*1152")
    expect(page.locator("[name=guidance_scale]")).to_have_value("6")
    shot(page, "generate-desktop")


def test_generate_shows_progress_preview_and_results(page, color_server) -> None:
    quick(page, "a lighthouse at dusk", steps=30, images=2)
    page.click("#generate")
    label = page.locator("#live-progress-label")
    expect(label).to_have_text(re.compile(r"step [1-9]\d*/60 · 0/2 images"))
    preview = page.locator("#live-preview")
    expect(preview).to_be_visible()
    assert preview.get_attribute("src").startswith("data:image/jpeg;base64,")
    expect(page.locator("#queue-list li")).to_have_count(1)
    expect(page.locator("#stop")).to_be_enabled()
    shot(page, "generate-running")
    expect(page.locator("#live-results")).to_have_attribute("data-count", "2", timeout=20000)
    expect(label).to_have_text("step 60/60 · 2/2 images")
    expect(page.locator("#live-title")).to_contain_text("succeeded")
    page.wait_for_function("[...document.querySelectorAll('#live-results img')].map(e => e.naturalWidth).join() === '256,256'")
    expect(page.locator("#live-warnings li")).to_have_count(0)  # the default preset fits this install
    expect(page.locator("#stop")).to_be_disabled()
    expect(page.locator("#queue-empty")).to_be_visible()
    shot(page, "generate-done")
    job = newest_jobs(color_server, 1)[0]
    assert job["status"] == "succeeded" and job["images_done"] == 2


def test_skip_drops_the_image_being_made(page, color_server) -> None:
    quick(page, f"skip the second {HOLD_AFTER_FIRST}", steps=20, images=2)  # the second runs until skipped
    page.click("#generate")
    expect(page.locator("#live-title")).to_contain_text("image 2/2", timeout=20000)
    expect(page.locator("#live-results")).to_have_attribute("data-count", "1")
    page.click("#skip")
    expect(page.locator("#live-title")).to_contain_text("succeeded", timeout=20000)
    expect(page.locator("#live-results")).to_have_attribute("data-count", "1")
    with color_server.client() as client:
        job = client.get(f"/v1/jobs/{newest_jobs(color_server, 1)[0]['id']}").json()
    assert [i["status"] for i in job["images"]] == ["done", "skipped"]


def _one_running_one_waiting(page, images: int):
    """Submits "first, running" (it runs until stopped) and "second, waiting"; returns the queue rows."""
    quick(page, f"first, running, {HOLD}", steps=20, images=images)
    page.click("#generate")
    expect(page.locator("#live-title")).to_contain_text("running")
    page.fill("#gen-form [name=prompt]", "second, waiting")
    page.click("#generate")
    rows = page.locator("#queue-list li")
    expect(rows).to_have_count(2)
    return rows


def test_queue_panel_cancels_a_queued_job_and_stop_the_running_one(page, color_server) -> None:
    rows = _one_running_one_waiting(page, images=2)
    waiting = rows.filter(has_text="second, waiting")
    expect(waiting.locator(".pos")).to_have_text("#1")
    expect(rows.first.locator(".pos")).to_have_text("▶")
    shot(page, "queue")
    first, second = newest_jobs(color_server, 2)
    assert second["status"] == "queued"
    # The running job reports a step every 20 ms and the list is drawn again each time: its rows must stay
    # the same elements, or a click whose mousedown and mouseup straddle a redraw is lost.
    row = waiting.element_handle()
    page.wait_for_timeout(300)
    assert row.evaluate("el => el.isConnected")
    waiting.locator(".cancel").click()
    expect(rows).to_have_count(1)
    # Stop acts on the job in focus (the running one) and nothing else.
    expect(page.locator("#live-title")).to_contain_text(first["id"][:8])
    page.click("#stop")
    expect(page.locator("#live-title")).to_contain_text("cancelled")
    expect(page.locator("#queue-empty")).to_be_visible()
    with color_server.client() as client:
        assert wait_job(client, second["id"], {"cancelled"})["images"] == []
        assert wait_job(client, first["id"], {"cancelled"})["status"] == "cancelled"


def test_a_queue_read_answered_after_a_cancel_does_not_bring_the_job_back(page, color_server) -> None:
    """The queue list is read again on every start or end; an answer read before a cancel may land after the
    `cancelled` event (a slow network, a busy server). Here the answer to the read that a new submission
    starts is held back until the cancel has been shown: the cancelled job must stay gone."""
    held = []

    def hold_first(route) -> None:
        if held:
            route.continue_()
        else:
            held.append((route, route.fetch()))  # read now, answered later

    rows = _one_running_one_waiting(page, images=1)
    page.route("**/v1/jobs?status=queued*", hold_first)
    page.fill("#gen-form [name=prompt]", "third, waiting")
    page.click("#generate")
    expect(rows).to_have_count(3)
    second = newest_jobs(color_server, 3)[1]
    for _ in range(250):  # the page reads the queue 120 ms after a submission
        if held:
            break
        page.wait_for_timeout(20)
    rows.filter(has_text="second, waiting").locator(".cancel").click()
    expect(rows).to_have_count(2)
    route, stale = held[0]
    assert second["id"] in stale.text()  # the held answer still lists the cancelled job as queued
    page.evaluate("""() => {  // the most rows the list shows from now on, however briefly
        const list = document.getElementById("queue-list");
        window.mostRows = list.children.length;
        new MutationObserver(() => { window.mostRows = Math.max(window.mostRows, list.children.length); })
            .observe(list, { childList: true });
    }""")
    route.fulfill(response=stale)
    page.wait_for_timeout(800)  # the answer lands, and the page's own reads that follow it
    assert page.evaluate("window.mostRows") == 2
    expect(rows.filter(has_text="second, waiting")).to_have_count(0)
    page.unroute("**/v1/jobs?status=queued*")
    page.click("#stop")
    with color_server.client() as client:
        for job in newest_jobs(color_server, 3):
            wait_job(client, job["id"], {"cancelled", "succeeded"})

def test_api_errors_appear_next_to_their_field(page) -> None:
    page.fill("#gen-form [name=prompt]", "a fox")
    set_fields(page, guidance_scale=99)
    page.click("#generate")
    error = page.locator("[data-field=guidance_scale] .field-error")
    expect(error).to_contain_text("must be between 1 and 30, got 99")
    set_fields(page, guidance_scale=4)
    expect(error).to_have_count(0)  # editing the field clears its error
    first_lora = page.locator("#lora-slots .lora").first
    first_lora.locator("select").select_option(LORA)
    first_lora.locator("input[type=number]").fill("5")
    page.click("#generate")
    expect(page.locator("[data-field='loras[0]'] .field-error")).to_be_visible()
    first_lora.locator("select").select_option("None")  # the preset's again: no LoRA
    set_fields(page, base_model_name="tiny.safetensors", overwrite_width=100)
    page.click("#generate")
    expect(page.locator("[data-field=overwrite_width] .field-error")).to_contain_text("width 100")
    shot(page, "field-error")


def test_the_form_remembers_the_last_settings(page) -> None:
    page.fill("#gen-form [name=prompt]", "remember this prompt")
    page.select_option("[name=aspect_ratios_selection]", "1024*1024")
    page.locator("[name=seed_random]").uncheck()
    page.fill("[name=image_seed]", "1234")
    set_fields(page, sampler_name="euler")
    # the form saves shortly after the last change: wait until the stored copy has the last one
    page.wait_for_function("() => JSON.parse(localStorage.getItem('remgo.form') || '{}').fields?.sampler_name === 'euler'")
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    expect(page.locator("#gen-form [name=prompt]")).to_have_value("remember this prompt")
    expect(page.locator("[name=aspect_ratios_selection]")).to_have_value("1024*1024")
    expect(page.locator("[name=image_seed]")).to_have_value("1234")
    expect(page.locator("[name=seed_random]")).not_to_be_checked()
    expect(page.locator("[name=sampler_name]")).to_have_value("euler")


def test_phone_size(browser, color_server) -> None:
    page, errors = open_page(browser, color_server.url, viewport=PHONE)
    page.wait_for_selector("body[data-ready=true]")
    quick(page, "a small screen", steps=3)
    page.click("#generate")
    expect(page.locator("#live-results")).to_have_attribute("data-count", "1", timeout=20000)
    page.evaluate("window.scrollTo(0, 0)")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(page, "generate-phone")
    page.click("#tab-gallery")
    expect(page.locator("#g-grid .tile").first).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(page, "gallery-phone")
    page.context.close()
    errors.check()
