"""The daily log page opened in chromium straight from disk (file://, no server), as a Fooocus user opens
outputs/<day>/log.html: the pictures load through their relative links, each shows its parameters, and a
prompt full of markup is shown as text, running nothing."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

from bench.harness.settings import SMALL, server_settings
from tests.orchestrator.server_thread import ServerThread
from tests.ui.conftest import open_page, shot

PROMPT = ('a fox <script>document.title="pwned"</script> <img src=x onerror="document.title=\'pwned\'">'
          ' & <b>bold?</b>')


@pytest.fixture(scope="module")
def log_page_file(tmp_path_factory):
    settings = server_settings(tmp_path_factory.mktemp("ui-daily-log"))
    with ServerThread(settings) as srv, srv.client() as client:
        job = client.post("/v1/jobs?wait=true", json={**SMALL, "prompt": PROMPT, "image_number": 2}).json()
        assert job["status"] == "succeeded", job
        second = client.post("/v1/jobs?wait=true", json={**SMALL, "prompt": "a lighthouse"}).json()
        assert second["status"] == "succeeded", second
        day = job["images"][0]["url"].split("/")[2]
        path = Path(settings.outputs_dir) / day / "log.html"
        deadline = time.monotonic() + 15
        while not (path.is_file() and path.read_text().count("<article") == 3):
            assert time.monotonic() < deadline, "the log page did not list the three images"
            time.sleep(0.05)
        yield path, job, second


def test_log_page_opens_from_disk_and_shows_prompts_as_text(browser, log_page_file) -> None:
    path, job, second = log_page_file
    page, errors = open_page(browser, path.as_uri())
    try:
        day = path.parent.name
        expect(page).to_have_title(f"remgo log {day}")  # the prompt's script did not run
        entries = page.locator("article")
        expect(entries).to_have_count(3)
        # newest first
        first_name = second["images"][0]["url"].rsplit("/", 1)[1]
        expect(entries.first).to_have_attribute("id", first_name)
        expect(entries.first.locator("tr", has_text="Prompt").first.locator("td")).to_have_text("a lighthouse")
        for image in job["images"]:
            entry = page.locator(f'article[id="{image["url"].rsplit("/", 1)[1]}"]')
            prompt = entry.locator("tr", has=page.locator("th", has_text="Prompt")).first.locator("td")
            expect(prompt).to_have_text(PROMPT)
            expect(entry.locator("td b")).to_have_count(0)
            seed = entry.locator("tr", has=page.locator("th", has_text="Seed")).locator("td")
            expect(seed).to_have_text(str(image["seed"]))
        # every picture loaded from the file beside the page
        imgs = page.locator("article img")
        expect(imgs).to_have_count(3)
        for i in range(3):
            imgs.nth(i).scroll_into_view_if_needed()
            page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=imgs.nth(i).element_handle())
        href = entries.first.locator("a", has=page.locator("img")).evaluate("a => a.href")
        assert href == (path.parent / first_name).as_uri()
        assert page.locator("img[src=x]").count() == 0
        shot(page, "daily-log", full_page=True)
    finally:
        page.context.close()
    errors.check()
