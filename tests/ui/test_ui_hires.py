"""The hires fix controls in chromium: off, the request carries no `hires_fix`; on, one object built from its
controls, which the server answers (the colour test kernel runs no hires fix: a refusal naming it, shown next
to the control; a value out of range: shown next to that control)."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.ui.conftest import quick, set_fields


def _sent(page) -> dict:
    with page.expect_request(lambda r: "/v1/jobs" in r.url and r.method == "POST") as request:
        page.click("#generate")
    return request.value.post_data_json


def test_the_hires_controls_make_one_hires_fix_object(page) -> None:
    quick(page, "a harbour")
    assert "hires_fix" not in _sent(page)
    set_fields(page, hires_fix=True)
    page.locator("#gen-form [name='hires_fix.scale']").fill("9")
    assert _sent(page)["hires_fix"]["scale"] == 9
    expect(page.locator("[data-field='hires_fix.scale'] .field-error")).to_be_visible()
    page.locator("#gen-form [name='hires_fix.scale']").fill("1.5")
    page.locator("#gen-form [name='hires_fix.upscaler']").select_option("Lanczos")
    assert _sent(page)["hires_fix"] == {"scale": 1.5, "resize_width": 0, "resize_height": 0, "upscaler": "Lanczos",
                                        "steps": 0, "denoise": 0.7}
    expect(page.locator("[data-field=hires_fix] .field-error")).to_contain_text("hires fix is not run")
