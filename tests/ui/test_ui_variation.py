"""The variation controls in chromium: left empty the request carries neither field; a strength and a seed are
sent as typed (a seed past 2^53 exactly), the job's task carries the variation for each image, and it runs."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.ui.conftest import quick, sent_request


def test_variation_controls_are_sent_as_typed(page) -> None:
    quick(page, "a harbour", images=2)
    body = sent_request(page)
    assert "variation_seed" not in body and "variation_strength" not in body
    page.locator("#gen-form [name=variation_seed]").fill("9007199254740993")  # 2^53 + 1
    page.locator("#gen-form [name=variation_strength]").fill("0.25")
    with page.expect_response(lambda r: "/v1/jobs" in r.url and r.request.method == "POST") as answer:
        page.click("#generate")
    assert '"variation_seed":9007199254740993' in answer.value.request.post_data.replace(" ", "")
    base = answer.value.url.split("/v1/jobs")[0]
    job = page.request.get(f"{base}/v1/jobs/{answer.value.json()['id']}").json()
    variation = job["normalized"]["tasks"][0]["variation"]
    assert variation == {"seeds": [9007199254740993, 9007199254740994], "strength": 0.25}
    expect(page.locator("[data-field=variation_strength] .field-error")).to_have_count(0)
    for _ in range(300):  # and the job runs: each image's one-image task carries its own variation seed
        job = page.request.get(f"{base}/v1/jobs/{job['id']}").json()
        if job["status"] not in ("queued", "running"):
            break
        page.wait_for_timeout(100)
    assert job["status"] == "succeeded", job
