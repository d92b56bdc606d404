"""The whole page with the real diffusers kernel on the tiny random-weight SDXL model: two images; an
inpaint with a mask painted by the mouse."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image
from playwright.sync_api import expect

from bench.harness.settings import server_settings
from tests.orchestrator.server_thread import ServerThread
from tests.ui.conftest import open_page, set_fields, shot
from tests.ui.input_image_helpers import distance_to_segment, drag, job_ids, png_file, submitted

FEATHER = 32  # Fooocus blends the repainted area in over 32 pixels (chessboard distance) past the mask


def test_generate_two_images_with_the_tiny_model(browser, tmp_path, tiny_models) -> None:
    settings = server_settings(tmp_path, worker_kernel=None, model_roots=[tiny_models.root])
    with ServerThread(settings, ready_timeout=120) as srv:
        page, errors = open_page(browser, srv.url)
        try:
            page.wait_for_selector("body[data-ready=true]")
            page.fill("#gen-form [name=prompt]", "a lighthouse at dusk")
            page.click("#style-clear")
            expect(page.locator("#style-count")).to_have_text("0")
            set_fields(page, image_number=2, base_model_name="tiny-sdxl.safetensors", sampler_name="euler",
                       image_sharpness=0, overwrite_step=2, overwrite_width=256, overwrite_height=256)
            page.locator("[name=seed_random]").uncheck()
            page.fill("[name=image_seed]", "42")
            page.click("#generate")
            expect(page.locator("#live-results")).to_have_attribute("data-count", "2", timeout=90000)
            expect(page.locator("#live-progress-label")).to_have_text("step 4/4 · 2/2 images")
            expect(page.locator("#live-title")).to_contain_text("succeeded")
            # The latest preview the kernel sent stays the <img> source once the results replace it.
            assert page.get_attribute("#live-preview", "src").startswith("data:image/jpeg;base64,")
            page.wait_for_function(
                "[...document.querySelectorAll('#live-results img')].map(e => e.naturalWidth).join() === '256,256'")
            shot(page, "tiny-model-two-images")
            with srv.client() as client:
                job = client.get("/v1/jobs", params={"limit": 1}).json()["jobs"][0]
                view = client.get(f"/v1/jobs/{job['id']}").json()
            assert view["status"] == "succeeded" and [i["seed"] for i in view["images"]] == [42, 43]
            assert view["normalized"]["tasks"][0]["base_model"]["name"] == "tiny-sdxl.safetensors"
            # Cleared styles: sent as [] unless the preset (fitted to this catalog) has none either.
            assert view["request"].get("style_selections", []) == []
            assert view["normalized"]["images"][0]["styles"] == []
        finally:
            page.context.close()
        errors.check()


def test_inpaint_a_painted_mask_with_the_tiny_model(browser, tmp_path, tiny_models) -> None:
    settings = server_settings(tmp_path, worker_kernel=None, model_roots=[tiny_models.root])
    size, brush, stroke = 256, 16, ((100, 128), (156, 128))
    with ServerThread(settings, ready_timeout=120) as srv:
        page, errors = open_page(browser, srv.url)
        try:
            page.wait_for_selector("body[data-ready=true]")
            page.fill("#gen-form [name=prompt]", "a stone wall")
            page.click("#style-clear")
            set_fields(page, image_number=1, base_model_name="tiny-sdxl.safetensors", sampler_name="euler",
                       image_sharpness=0, overwrite_step=2, output_format="png")
            page.check("#input-on")
            page.click("#input-tab-inpaint")
            source = png_file(tmp_path / "wall.png", size, size, seed=4)
            page.set_input_files("[name=inpaint_input_image]", str(source))
            expect(page.locator("[data-slot=inpaint] .slot-status")).to_contain_text(f"{size}×{size}")
            page.locator("#brush-size").fill(str(brush))
            drag(page, *stroke, size)
            before = job_ids(srv)
            page.click("#generate")
            expect(page.locator("#live-results")).to_have_attribute("data-count", "1", timeout=90000)
            page.wait_for_function(f"document.querySelector('#live-results img')?.naturalWidth === {size}")
            job = submitted(srv, before)
            assert job["status"] == "succeeded", job.get("error")
            with srv.client() as client:
                out = np.asarray(Image.open(io.BytesIO(client.get(job["images"][0]["url"]).content)).convert("RGB"))
            src = np.asarray(Image.open(source).convert("RGB"))
            assert out.shape == src.shape
            # The painted area lies within brush/2 of the stroke; past it and the feather, nothing may change.
            near = distance_to_segment(size, size, *stroke)
            rows, cols = np.nonzero(near <= brush / 2 + 1)
            y, x = np.mgrid[0:size, 0:size]
            gap = np.maximum(np.maximum(rows.min() - y, y - rows.max()), np.maximum(cols.min() - x, x - cols.max()))
            far = gap > FEATHER
            assert far.sum() > size * size // 2
            assert np.array_equal(out[far], src[far])
            assert (out != src).any(axis=-1)[near <= brush / 2 - 2].mean() > 0.9  # and the mask was repainted
            expect(page.locator("#live-warnings li")).to_have_count(len(job["warnings"]))
            shot(page, "tiny-model-inpaint")
        finally:
            page.context.close()
        errors.check()
