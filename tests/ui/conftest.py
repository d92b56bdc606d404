"""Browser tests: Debian's chromium driven by Python Playwright against a real server with real workers.

No browser is ever downloaded: the system chromium (`apt-get install chromium`) is launched by path. Without
it (or without the playwright package) these tests are skipped, saying why.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.harness.settings import make_catalog, server_settings
from tests.orchestrator.catalog.catalog_samples import REFINER_SHAPES, safetensors_with
from tests.orchestrator.server_thread import ServerThread
from tests.ui.ui_harness import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS

DESKTOP = {"width": 1360, "height": 900}
PHONE = {"width": 390, "height": 844}
REFINER = "sd_xl_refiner_1.0.safetensors"
STEP_DELAY = 0.05  # seconds per step of the test kernel: a 40-step job runs about 2 s
LORA = "film-grain.safetensors"  # the colour server's one LoRA


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no chromium at {CHROMIUM} (install Debian's: apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def color_server(tmp_path_factory):
    """The orchestrator on the fast colour test kernel, one worker."""
    tmp = tmp_path_factory.mktemp("ui-server")
    lora = make_catalog(tmp) / "models" / "loras" / LORA  # one to pick (the default preset's is not here)
    lora.parent.mkdir(parents=True, exist_ok=True)
    lora.write_bytes(b"placeholder")
    # A refiner-architecture checkpoint (its header only): offered as a refiner, never as the base model.
    safetensors_with(lora.parents[1] / "checkpoints" / REFINER, REFINER_SHAPES)
    with ServerThread(server_settings(tmp, step_delay=STEP_DELAY)) as srv:
        yield srv


class PageErrors(list):
    def check(self) -> None:
        assert not self, f"the page logged errors: {self}"


def open_page(browser, url: str, viewport: dict = DESKTOP, storage: dict | None = None):
    """A fresh browser context (empty storage) on the page, once its script has read the catalog."""
    context = browser.new_context(viewport=viewport, accept_downloads=True, storage_state=storage)
    page = context.new_page()
    errors = PageErrors()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # API refusals (4xx) the page handles are logged by the browser as failed loads; anything else counts.
    page.on("console", lambda msg: msg.type == "error" and not msg.text.startswith("Failed to load resource")
            and errors.append(msg.text))
    page.goto(url)
    return page, errors


@pytest.fixture
def page(browser, color_server):
    page, errors = open_page(browser, color_server.url)
    page.wait_for_selector("body[data-ready=true]")
    yield page
    page.context.close()
    errors.check()


def shot(page, name: str, full_page: bool = False) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def set_fields(page, **values) -> None:
    """Fill form controls by request field name; the Advanced section is opened first."""
    if page.locator("#advanced").get_attribute("open") is None:
        page.click("#advanced summary")
    for name, value in values.items():
        control = page.locator(f"#gen-form [name={name}]")
        if isinstance(value, bool):
            control.set_checked(value)
        elif control.evaluate("el => el.tagName") == "SELECT":
            control.select_option(str(value))
        else:
            control.fill(str(value))


def quick(page, prompt: str, *, steps: int = 3, images: int = 1) -> None:
    """A small job: 256×256, few steps."""
    page.fill("#gen-form [name=prompt]", prompt)
    set_fields(page, image_number=images, overwrite_step=steps, overwrite_width=256, overwrite_height=256)



def newest_jobs(server, n: int) -> list[dict]:
    """The server's n newest jobs, oldest of them first."""
    with server.client() as client:
        return list(reversed(client.get("/v1/jobs", params={"limit": n}).json()["jobs"]))


def sent_request(page) -> dict:
    """The JSON body the page posts to /v1/jobs when Generate is clicked."""
    with page.expect_request(lambda r: "/v1/jobs" in r.url and r.method == "POST") as request:
        page.click("#generate")
    return request.value.post_data_json
