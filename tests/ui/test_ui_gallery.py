"""The Gallery view in chromium: newest first with infinite scroll, search and filters, the viewer, reuse of
settings, star, delete with confirmation, multi-select ZIP export."""

from __future__ import annotations

import io
import zipfile
from datetime import date, timedelta

import pytest
from playwright.sync_api import expect

from bench.harness.settings import SMALL, server_settings
from tests.orchestrator.server_thread import ServerThread
from tests.ui.conftest import open_page, shot

PROMPTS = ("a lighthouse at dusk", "a red fox in snow", "a blue boat on a lake")


@pytest.fixture(scope="module")
def gallery_server(tmp_path_factory):
    """45 plain images, then three with distinct prompts (the newest)."""
    with ServerThread(server_settings(tmp_path_factory.mktemp("ui-gallery"))) as srv, srv.client() as client:
        for n in (32, 13):
            body = {**SMALL, "prompt": "filler", "image_number": n, "overwrite_step": 1}
            assert client.post("/v1/jobs?wait=true", json=body).json()["status"] == "succeeded"
        for i, prompt in enumerate(PROMPTS):
            body = {**SMALL, "prompt": prompt, "image_seed": 500 + i, "style_selections": ["Remgo Anime"],
                    "sampler_name": "euler", "guidance_scale": 5.5, "overwrite_step": 7}
            assert client.post("/v1/jobs?wait=true", json=body).json()["status"] == "succeeded"
        yield srv


@pytest.fixture
def gallery(browser, gallery_server):
    page, errors = open_page(browser, gallery_server.url + "/#gallery")
    page.wait_for_selector("body[data-ready=true]")
    expect(page.locator("#g-grid .tile").first).to_be_visible()
    yield page
    page.context.close()
    errors.check()


def tiles(page):
    return page.locator("#g-grid .tile")


def test_newest_first_and_more_on_scroll(gallery) -> None:
    expect(tiles(gallery)).to_have_count(40)
    assert tiles(gallery).first.locator("figcaption").inner_text() == PROMPTS[-1]
    shot(gallery, "gallery-desktop")
    gallery.locator("#g-grid .tile").last.scroll_into_view_if_needed()
    expect(tiles(gallery)).to_have_count(48)


def test_search_and_filters(gallery) -> None:
    gallery.fill("#g-search", "fox")
    expect(tiles(gallery)).to_have_count(1)
    expect(tiles(gallery).first.locator("figcaption")).to_have_text("a red fox in snow")
    gallery.fill("#g-search", "fox OR lighthouse")
    expect(tiles(gallery)).to_have_count(2)
    gallery.fill("#g-search", "fox OR")  # half-typed: said, not a blank page
    expect(gallery.locator("#g-error")).to_contain_text("q: cannot be searched (syntax error at the end)")
    gallery.fill("#g-search", "zebra")
    expect(gallery.locator("#g-empty")).to_be_visible()
    expect(gallery.locator("#g-error")).to_be_hidden()
    gallery.fill("#g-search", "")
    gallery.select_option("#g-model", "tiny.safetensors")
    expect(tiles(gallery)).to_have_count(40)
    tomorrow = (date.today() + timedelta(days=2)).isoformat()
    gallery.fill("#g-since", tomorrow)
    expect(gallery.locator("#g-empty")).to_be_visible()
    gallery.fill("#g-since", "")
    gallery.fill("#g-until", tomorrow)
    expect(tiles(gallery)).to_have_count(40)


def test_viewer_shows_metadata_and_reuses_the_settings(gallery) -> None:
    gallery.fill("#g-search", "lighthouse")
    expect(tiles(gallery)).to_have_count(1)
    tiles(gallery).first.locator(".open").click()
    viewer = gallery.locator("#viewer")
    expect(viewer).to_be_visible()
    meta = gallery.locator("#v-meta")
    expect(meta).to_contain_text("a lighthouse at dusk")
    expect(meta).to_contain_text("500")
    expect(meta).to_contain_text("euler")
    gallery.wait_for_function("document.querySelector('#v-image').naturalWidth === 256")
    shot(gallery, "viewer")
    gallery.click("#v-use")
    expect(viewer).to_be_hidden()
    expect(gallery.locator("#view-generate")).to_be_visible()
    form = gallery.locator("#gen-form")
    expect(form.locator("[name=prompt]")).to_have_value("a lighthouse at dusk")
    expect(form.locator("[name=image_seed]")).to_have_value("500")
    expect(form.locator("[name=seed_random]")).not_to_be_checked()
    expect(form.locator("[name=sampler_name]")).to_have_value("euler")
    expect(form.locator("[name=guidance_scale]")).to_have_value("5.5")
    expect(form.locator("[name=overwrite_step]")).to_have_value("7")
    expect(form.locator("[name=overwrite_width]")).to_have_value("256")
    assert gallery.locator("#style-list .style-item.on").all_inner_texts() == ["Remgo Anime"]


def test_star_then_filter_starred(gallery, gallery_server) -> None:
    gallery.fill("#g-search", "boat")
    expect(tiles(gallery)).to_have_count(1)
    tiles(gallery).first.locator(".open").click()
    gallery.click("#v-star")
    expect(gallery.locator("#v-star")).to_have_attribute("aria-pressed", "true")
    gallery.click("#v-close")
    gallery.fill("#g-search", "")
    gallery.check("#g-starred")
    expect(tiles(gallery)).to_have_count(1)
    expect(tiles(gallery).first).to_have_class("tile starred")
    with gallery_server.client() as client:
        assert [i["prompt"] for i in client.get("/v1/history?starred=true").json()["items"]] == ["a blue boat on a lake"]


def test_select_export_zip_and_delete_with_confirmation(gallery, gallery_server) -> None:
    gallery.fill("#g-search", "filler")
    expect(tiles(gallery).first.locator("figcaption")).to_have_text("filler")
    # Whether the second page loads on its own depends on the layout while the grid refills: scroll to the
    # end so all 45 matches are shown, a count that no longer changes.
    tiles(gallery).last.scroll_into_view_if_needed()
    expect(tiles(gallery)).to_have_count(45)
    for i in (0, 1):
        tiles(gallery).nth(i).hover()
        tiles(gallery).nth(i).locator(".pick input").check()
    expect(gallery.locator("#g-selected-count")).to_have_text("2 selected")
    ids = [tiles(gallery).nth(i).get_attribute("data-id") for i in (0, 1)]
    with gallery.expect_download() as download:
        gallery.click("#g-export")
    archive = zipfile.ZipFile(io.BytesIO(open(download.value.path(), "rb").read()))
    assert len([n for n in archive.namelist() if n.endswith(".png")]) == 2
    shot(gallery, "gallery-selected")
    gallery.once("dialog", lambda d: d.dismiss())
    gallery.click("#g-delete")
    expect(tiles(gallery)).to_have_count(45)  # not confirmed: nothing deleted
    gallery.once("dialog", lambda d: d.accept())
    gallery.click("#g-delete")
    expect(gallery.locator("#g-selection")).to_be_hidden()
    for image_id in ids:
        expect(gallery.locator(f"#g-grid .tile[data-id='{image_id}']")).to_have_count(0)
    with gallery_server.client() as client:
        assert all(client.get(f"/v1/history/{i}").status_code == 404 for i in ids)


def test_the_page_asks_for_a_key_once_per_session(browser, tmp_path) -> None:
    settings = server_settings(tmp_path, api_keys=["s3cret"])
    with ServerThread(settings) as srv:
        with srv.client() as client:
            client.post("/v1/jobs?wait=true", json=SMALL)
        page, errors = open_page(browser, srv.url + "/#gallery")
        dialog = page.locator("#key-dialog")
        expect(dialog).to_be_visible()
        page.fill("#key-input", "wrong")
        page.click("#key-dialog button[type=submit]")
        expect(page.locator("#key-error")).to_be_visible()
        page.fill("#key-input", "s3cret")
        page.click("#key-dialog button[type=submit]")
        page.wait_for_selector("body[data-ready=true]")
        expect(tiles(page)).to_have_count(1)
        page.wait_for_function("document.querySelector('#g-grid img').naturalWidth > 0")  # thumbs load with the key
        page.reload()
        page.wait_for_selector("body[data-ready=true]")
        expect(dialog).to_be_hidden()
        page.click("#tab-generate")
        page.fill("#gen-form [name=prompt]", "with a key")
        page.click("#advanced summary")
        page.fill("[name=overwrite_step]", "2")
        page.click("#generate")
        expect(page.locator("#live-results")).to_have_attribute("data-count", "2", timeout=20000)
        page.wait_for_function("[...document.querySelectorAll('#live-results img')].every(e => e.complete && e.naturalWidth)")
        page.context.close()
        errors.check()
