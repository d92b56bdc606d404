"""The UNet-timestep control in chromium: left at Fooocus's `nearest` the request carries no `unet_timestep`;
set to A1111's `interpolated` it does, the job runs on the test kernel (which declares it), and the image's
metadata records it."""

from __future__ import annotations

import json

from playwright.sync_api import expect

from tests.ui.conftest import quick, sent_request


def test_the_control_sends_interpolated_only_when_chosen(page) -> None:
    quick(page, "a harbour")
    expect(page.locator("#gen-form [name=unet_timestep]")).to_have_value("nearest")
    assert "unet_timestep" not in sent_request(page)
    page.locator("#gen-form [name=unet_timestep]").select_option("interpolated")
    with page.expect_response(lambda r: "/v1/jobs" in r.url and r.request.method == "POST") as answer:
        page.click("#generate")
    assert answer.value.request.post_data_json["unet_timestep"] == "interpolated"
    base = answer.value.url.split("/v1/jobs")[0]
    job = page.request.get(f"{base}/v1/jobs/{answer.value.json()['id']}").json()
    task = job["normalized"]["tasks"][0]
    assert task["unet_timestep"] == "interpolated"
    assert json.loads(task["image_metadata"][0]["parameters"])["unet_timestep"] == "interpolated"
