"""The input-image panel in chromium, on the colour test server: a file chosen for Vary (Strong) reaches the
job as an upload with the file's bytes; a gallery picture goes by its history id (the panel's "use", and the
one-click Vary on a tile); the mask painter's PNG is the image's size with white exactly where the brush
went (paint, erase, invert); refusals show on the panel's fields; the phone layout holds."""

from __future__ import annotations

import hashlib
import io

import numpy as np
from PIL import Image
from playwright.sync_api import expect

from bench.harness.settings import SMALL
from tests.ui.conftest import PHONE, open_page, shot
from tests.ui.input_image_helpers import (
    distance_to_segment,
    drag,
    job_ids,
    png_file,
    small_job,
    submitted,
    upload_bytes,
)


def test_vary_strong_of_a_chosen_file(page, color_server, tmp_path) -> None:
    small_job(page, "a vase of tulips")
    page.check("#input-on")
    expect(page.locator("#input-panel")).to_be_visible()
    # A file that is not an image: the server's refusal is said on the panel, at the image.
    bad = tmp_path / "notes.png"
    bad.write_bytes(b"these are notes, not a picture")
    page.set_input_files("[name=uov_input_image]", str(bad))
    refusal = page.locator("[data-field=uov_input_image] .field-error")
    expect(refusal).to_be_visible()
    assert refusal.inner_text().strip()
    good = png_file(tmp_path / "tulips.png", 96, 64)
    page.set_input_files("[name=uov_input_image]", str(good))
    expect(page.locator("[data-slot=uov] .slot-status")).to_contain_text("96×64")
    expect(refusal).to_have_count(0)
    page.check("[name=uov_method][value='Vary (Strong)']")
    before = job_ids(color_server)
    page.click("#generate")
    expect(page.locator("#live-results")).to_have_attribute("data-count", "1", timeout=20000)
    job = submitted(color_server, before)
    assert job["status"] == "succeeded"
    assert job["request"]["uov_method"] == "Vary (Strong)"
    assert upload_bytes(color_server, job["request"]["uov_input_image"]) == good.read_bytes()
    assert "inpaint_input_image" not in job["request"]
    image = job["images"][0]
    page.wait_for_function(f"document.querySelector('#live-results img')?.naturalWidth === {image['width']}")
    # The job's warnings, if any, are listed as for any job.
    expect(page.locator("#live-warnings li")).to_have_count(len(job["warnings"]))
    shot(page, "input-vary-strong")


def test_custom_upscale_sends_its_factor_and_the_fallback(page, color_server, tmp_path) -> None:
    small_job(page, "a small stamp")
    page.check("#input-on")
    page.set_input_files("[name=uov_input_image]", str(png_file(tmp_path / "stamp.png", 64, 48, seed=5)))
    expect(page.locator("[data-slot=uov] .slot-status")).to_contain_text("64×48")
    factor = page.locator("[name=upscale_value]")
    expect(factor).to_be_hidden()
    page.check("[name=uov_method][value='Upscale (Custom)']")
    expect(factor).to_be_visible()
    factor.fill("1.25")
    page.click("#input-uov .advanced summary")
    expect(page.locator("[name=upscale_model]")).to_be_disabled()  # this server has no upscale model
    page.check("[name=upscale_fallback]")
    before = job_ids(color_server)
    page.click("#generate")
    job = submitted(color_server, before)
    assert job["status"] == "succeeded"
    request = job["request"]
    assert (request["uov_method"], request["upscale_value"], request["upscale_fallback"]) == ("Upscale (Custom)", 1.25, True)
    assert "upscale_model" not in request and "overwrite_vary_strength" not in request
    # The server's word about the fallback is among the job's warnings, listed under the result.
    assert job["warnings"]
    expect(page.locator("#live-warnings li")).to_have_count(len(job["warnings"]))
    for warning in job["warnings"]:
        expect(page.locator("#live-warnings")).to_contain_text(warning)


def test_paste_and_drop_take_an_image_into_the_tab_shown(page, color_server, tmp_path) -> None:
    files = {kind: png_file(tmp_path / f"{kind}.png", 40 + i, 30, seed=10 + i).read_bytes()
             for i, kind in enumerate(("paste", "drop"))}
    send = """([bytes, kind]) => {
        const transfer = new DataTransfer();
        transfer.items.add(new File([new Uint8Array(bytes)], `${kind}.png`, { type: "image/png" }));
        const target = kind === "paste" ? document.querySelector("[name=prompt]")
          : document.querySelector("[data-slot=inpaint] .drop");
        const init = { bubbles: true, cancelable: true };
        target.dispatchEvent(kind === "paste" ? new ClipboardEvent("paste", { ...init, clipboardData: transfer })
          : new DragEvent("drop", { ...init, dataTransfer: transfer }));
    }"""
    # While the panel is off a pasted image is not taken.
    page.evaluate(send, [list(files["paste"]), "paste"])
    page.check("#input-on")
    expect(page.locator("[data-slot=uov] .slot-status")).to_have_text("")
    # Ctrl-V with the prompt focused: the image goes to the tab shown (Vary / Upscale).
    page.evaluate(send, [list(files["paste"]), "paste"])
    expect(page.locator("[data-slot=uov] .slot-status")).to_contain_text("40×30")
    page.click("#input-tab-inpaint")
    page.evaluate(send, [list(files["drop"]), "drop"])
    expect(page.locator("[data-slot=inpaint] .slot-status")).to_contain_text("41×30")
    for data in files.values():  # each was uploaded as it is (an upload's id is its file's sha256)
        assert upload_bytes(color_server, {"upload_id": hashlib.sha256(data).hexdigest()}) == data


def _history_image(server, prompt: str) -> dict:
    with server.client() as client:
        job = client.post("/v1/jobs?wait=true", json={**SMALL, "prompt": prompt}).json()
        assert job["status"] == "succeeded"
        return job["images"][0]


def test_a_gallery_picture_goes_by_its_history_id(page, color_server) -> None:
    history_id = _history_image(color_server, "a harbour crane")["history_id"]
    small_job(page, "a harbour crane, varied")
    page.click("#tab-gallery")
    tile = page.locator(f"#g-grid .tile[data-id='{history_id}']")
    expect(tile).to_be_visible()
    # The viewer's "Use as input image": the panel opens with it, nothing is submitted yet.
    tile.locator("button.open").click()
    before = job_ids(color_server)
    page.click("#v-input")
    expect(page.locator("#view-generate")).to_be_visible()
    expect(page.locator("#input-on")).to_be_checked()
    expect(page.locator("[data-slot=uov] .slot-status")).to_contain_text("from the gallery")
    assert job_ids(color_server) == before
    page.check("[name=uov_method][value='Vary (Subtle)']")
    page.click("#generate")
    expect(page.locator("#live-results")).to_have_attribute("data-count", "1", timeout=20000)
    job = submitted(color_server, before)
    assert job["request"]["uov_input_image"] == {"history_id": history_id}
    assert job["request"]["uov_method"] == "Vary (Subtle)" and job["status"] == "succeeded"
    # A tile's one-click Vary (Strong): submitted at once, by history id.
    page.click("#tab-gallery")
    tile.hover()
    shot(page, "input-gallery-tile-actions")
    before = job_ids(color_server)
    tile.get_by_role("button", name="Vary (Strong)").click()
    expect(page.locator("#view-generate")).to_be_visible()
    job = submitted(color_server, before)
    assert job["request"]["uov_input_image"] == {"history_id": history_id}
    assert job["request"]["uov_method"] == "Vary (Strong)"
    # Upscale (2x) from the viewer: this server has no upscale model, and the refusal is said on the panel.
    page.click("#tab-gallery")
    tile.locator("button.open").click()
    shot(page, "input-viewer-actions")
    page.locator("#viewer [data-action='Upscale (2x)']").click()
    expect(page.locator("[data-field=uov_method] .field-error")).to_contain_text("upscale")
    expect(page.locator("[name=uov_method][value='Upscale (2x)']")).to_be_checked()


def _mask_of_next_job(page, server) -> np.ndarray:
    before = job_ids(server)
    page.click("#generate")
    job = submitted(server, before)
    assert job["status"] == "succeeded", job.get("error")
    mask = Image.open(io.BytesIO(upload_bytes(server, job["request"]["inpaint_mask_image"])))
    assert mask.format == "PNG"
    return np.asarray(mask.convert("RGBA"))


def test_the_mask_painter_paints_erases_and_inverts_in_image_pixels(page, color_server, tmp_path) -> None:
    width, height, brush = 200, 120, 20
    small_job(page, "a tulip field")
    page.check("#input-on")
    page.click("#input-tab-inpaint")
    page.set_input_files("[name=inpaint_input_image]", str(png_file(tmp_path / "field.png", width, height, seed=1)))
    expect(page.locator("[data-slot=inpaint] .slot-status")).to_contain_text(f"{width}×{height}")
    page.locator("#brush-size").fill(str(brush))
    expect(page.locator("#brush-size-out")).to_have_text(str(brush))
    # The canvas is shown larger than the image: strokes must still land in image pixels.
    assert page.locator("#mask-canvas").bounding_box()["width"] > 1.5 * width
    stroke = ((40, 60), (160, 60))
    drag(page, *stroke, width)
    mask = _mask_of_next_job(page, color_server)
    assert mask.shape == (height, width, 4)
    assert (mask[..., 3] == 255).all() and set(np.unique(mask[..., :3])) <= {0, 255}  # opaque black and white
    near = distance_to_segment(width, height, *stroke)
    r = brush / 2
    white = mask[..., 0] == 255
    assert white[near <= r - 1.5].all() and not white[near >= r + 1.5].any()
    expect(page.locator("#live-results")).to_have_attribute("data-count", "1", timeout=20000)
    shot(page, "input-mask-painted", full_page=True)

    # Erase the middle with a wider brush: the stroke's two ends stay.
    page.click("#mask-erase")
    page.locator("#brush-size").fill("30")
    cut = ((90, 60), (110, 60))
    drag(page, *cut, width)
    erased = distance_to_segment(width, height, *cut)
    mask = _mask_of_next_job(page, color_server)
    white = mask[..., 0] == 255
    painted = (near <= r - 1.5) & (erased >= 15 + 1.5)
    bare = (near >= r + 1.5) | (erased <= 15 - 1.5)
    assert painted.sum() > 500 and white[painted].all() and not white[bare].any()

    # Invert: what was painted is bare and the rest painted.
    page.click("#mask-invert")
    mask = _mask_of_next_job(page, color_server)
    white = mask[..., 0] == 255
    assert not white[painted].any() and white[bare].all()

    # Cleared, with no outpaint direction: the server's refusal names the mask, shown on the panel.
    page.click("#mask-clear")
    page.click("#generate")
    expect(page.locator("[data-field=inpaint_mask_image] .field-error")).to_contain_text("mask")


def test_outpaint_alone_sends_no_mask_and_the_directions(page, color_server, tmp_path) -> None:
    small_job(page, "a wider view")
    page.check("#input-on")
    page.click("#input-tab-inpaint")
    page.set_input_files("[name=inpaint_input_image]", str(png_file(tmp_path / "view.png", 128, 96, seed=2)))
    expect(page.locator("[data-slot=inpaint] .slot-status")).to_contain_text("128×96")
    page.check("[name=outpaint_selections][value=Left]")
    page.check("[name=outpaint_selections][value=Bottom]")
    page.fill("[name=inpaint_additional_prompt]", "more sky")
    before = job_ids(color_server)
    page.click("#generate")
    job = submitted(color_server, before)
    assert job["status"] == "succeeded"
    request = job["request"]
    assert request["outpaint_selections"] == ["Left", "Bottom"] and "inpaint_mask_image" not in request
    assert request["inpaint_additional_prompt"] == "more sky" and "uov_method" not in request
    # Fooocus's outpaint: 30 % of the width on the left, 30 % of the height at the bottom.
    assert (job["images"][0]["width"], job["images"][0]["height"]) == (128 + 38, 96 + 28)


def test_a1111_steps_send_their_knobs_and_keep_the_image_size(page, color_server, tmp_path) -> None:
    small_job(page, "a red door")
    page.check("#input-on")
    page.click("#input-tab-inpaint")
    page.set_input_files("[name=inpaint_input_image]", str(png_file(tmp_path / "door.png", 160, 96, seed=3)))
    expect(page.locator("[data-slot=inpaint] .slot-status")).to_contain_text("160×96")
    page.locator("#mask-canvas").scroll_into_view_if_needed()
    drag(page, (60, 40), (100, 40), 160)
    page.locator("details.advanced:has([name=inpaint_a1111])").locator("summary").click()
    page.check("[name=inpaint_a1111]")
    page.fill("[name='inpaint_a1111.mask_blur']", "6")
    page.select_option("[name='inpaint_a1111.inpainting_fill']", "2")
    before = job_ids(color_server)
    page.click("#generate")
    job = submitted(color_server, before)
    assert job["status"] == "succeeded", job.get("error")
    assert job["request"]["inpaint_a1111"] == {"mask_blur_x": 6, "mask_blur_y": 6, "inpainting_fill": 2,
                                               "inpaint_full_res": True, "inpaint_full_res_padding": 32}
    assert (job["images"][0]["width"], job["images"][0]["height"]) == (160, 96)


def test_input_panel_at_phone_size(browser, color_server, tmp_path) -> None:
    page, errors = open_page(browser, color_server.url, viewport=PHONE)
    try:
        page.wait_for_selector("body[data-ready=true]")
        page.check("#input-on")
        page.click("#input-tab-inpaint")
        page.set_input_files("[name=inpaint_input_image]", str(png_file(tmp_path / "wide.png", 1600, 400, seed=3)))
        expect(page.locator("[data-slot=inpaint] .slot-status")).to_contain_text("1600×400")
        box = page.locator("#mask-canvas").bounding_box()
        assert box["width"] <= PHONE["width"] and abs(box["width"] / box["height"] - 4) < 0.05
        page.evaluate("window.scrollTo(0, 0)")
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        shot(page, "input-phone", full_page=True)
    finally:
        page.context.close()
    errors.check()
