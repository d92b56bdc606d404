"""Seeds above 2^53 in chromium: shown with every digit, reused and submitted unchanged.

A JavaScript number holds integers exactly only up to 2^53; Fooocus's seeds go up to 2^63 - 1, so a page
that reads them as plain numbers shows and resubmits a neighbouring seed.
"""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from bench.harness.settings import SMALL, server_settings
from tests.orchestrator.server_thread import ServerThread, wait_job
from tests.ui.conftest import open_page

BIG = 4944788763838947921  # as a double: 4944788763838947840, shown by JavaScript as 4944788763838948000
TOP = 2**63 - 1


@pytest.fixture(scope="module")
def seed_server(tmp_path_factory):
    with ServerThread(server_settings(tmp_path_factory.mktemp("ui-seeds"))) as srv, srv.client() as client:
        body = {**SMALL, "prompt": "a seed past 2^53", "image_seed": BIG, "overwrite_step": 2}
        assert client.post("/v1/jobs?wait=true", json=body).json()["status"] == "succeeded"
        yield srv


@pytest.fixture
def page(browser, seed_server):
    page, errors = open_page(browser, seed_server.url + "/#gallery")
    page.wait_for_selector("body[data-ready=true]")
    yield page
    page.context.close()
    errors.check()


def test_reuse_of_a_big_seed_submits_it_unchanged(page, seed_server) -> None:
    page.locator("#g-grid .tile .open").first.click()
    meta = page.locator("#v-meta")
    expect(meta).to_contain_text(str(BIG))
    seed_row = page.locator("#v-meta dt", has_text="Seed").locator("xpath=following-sibling::dd[1]")
    expect(seed_row).to_have_text(str(BIG))
    page.click("#v-use")
    form = page.locator("#gen-form")
    expect(form.locator("[name=image_seed]")).to_have_value(str(BIG))
    expect(form.locator("[name=seed_random]")).not_to_be_checked()
    with page.expect_response(lambda r: r.url.endswith("/v1/jobs") and r.request.method == "POST") as posted:
        page.click("#generate")
    sent = posted.value.request.post_data
    assert f'"image_seed":{BIG}' in sent, sent  # an integer in the JSON, every digit
    job_id = posted.value.json()["id"]
    with seed_server.client() as client:
        job = wait_job(client, job_id, {"succeeded"})
    assert job["request"]["image_seed"] == BIG and job["images"][0]["seed"] == BIG
    # The live view names the image's seed with every digit too.
    expect(page.locator("#live-results .result").first).to_have_attribute("title", f"seed {BIG}", timeout=20000)
    # The form remembers the exact seed across a reload.
    page.wait_for_function(f"() => JSON.parse(localStorage.getItem('remgo.form') || '{{}}').image_seed === '{BIG}'")
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    expect(page.locator("#gen-form [name=image_seed]")).to_have_value(str(BIG))


def test_the_largest_seed_typed_in_the_form(page, seed_server) -> None:
    page.click("#tab-generate")
    page.fill("#gen-form [name=prompt]", "the largest seed")
    page.locator("#gen-form [name=seed_random]").set_checked(False)
    page.fill("#gen-form [name=image_seed]", str(TOP))
    page.click("#advanced summary")
    page.fill("#gen-form [name=overwrite_step]", "2")
    page.fill("#gen-form [name=overwrite_width]", "256")
    page.fill("#gen-form [name=overwrite_height]", "256")
    with page.expect_response(lambda r: r.url.endswith("/v1/jobs") and r.request.method == "POST") as posted:
        page.click("#generate")
    with seed_server.client() as client:
        job = wait_job(client, posted.value.json()["id"], {"succeeded"})
    assert job["request"]["image_seed"] == TOP and job["images"][0]["seed"] == TOP


def test_the_page_reads_and_writes_json_without_rounding(page) -> None:
    """The page's JSON reader and writer on the shapes the API answers with."""
    result = page.evaluate("""async () => {
        const { parseJSON, toJSON } = await import("/ui/api.js");
        const text = '{"seed": 4944788763838947921, "neg": -9223372036854775807, "small": 42, "float": 0.12345678901234567,'
          + ' "exp": 1.5e300, "list": [9007199254740993, 9007199254740991], "text": "seed 4944788763838947921 \\\\" 12345678901234567",'
          + ' "4944788763838947921": true}';
        const value = parseJSON(text);
        return {
          types: [typeof value.seed, typeof value.neg, typeof value.small, typeof value.list[0], typeof value.list[1]],
          digits: [String(value.seed), String(value.neg), String(value.list[0])],
          text: value.text, keys: Object.keys(value), float: value.float, exp: value.exp,
          written: toJSON({ image_seed: value.seed, list: value.list, prompt: value.text, n: 3 }),
          plain: toJSON({ a: [1, "x"] }),
        };
    }""")
    assert result["types"] == ["bigint", "bigint", "number", "bigint", "number"]
    assert result["digits"] == ["4944788763838947921", "-9223372036854775807", "9007199254740993"]
    assert result["text"] == 'seed 4944788763838947921 " 12345678901234567'
    assert "4944788763838947921" in result["keys"]
    assert result["float"] == 0.12345678901234567 and result["exp"] == 1.5e300
    assert json.loads(result["written"]) == {"image_seed": BIG, "list": [9007199254740993, 9007199254740991],
                                             "prompt": 'seed 4944788763838947921 " 12345678901234567', "n": 3}
    assert result["plain"] == '{"a":[1,"x"]}'
