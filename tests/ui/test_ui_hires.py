"""The hires fix controls in chromium: off, the request carries no `hires_fix`; on, one object built from its
controls, which the server answers (the colour test kernel runs no hires fix: a refusal naming it, shown next
to the control; a value out of range: shown next to that control)."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.ui.conftest import quick, sent_request, set_fields


def test_the_hires_controls_make_one_hires_fix_object(page) -> None:
    quick(page, "a harbour")
    assert "hires_fix" not in sent_request(page)
    set_fields(page, hires_fix=True)
    page.locator("#gen-form [name='hires_fix.scale']").fill("9")
    assert sent_request(page)["hires_fix"]["scale"] == 9
    expect(page.locator("[data-field='hires_fix.scale'] .field-error")).to_be_visible()
    page.locator("#gen-form [name='hires_fix.scale']").fill("1.5")
    page.locator("#gen-form [name='hires_fix.upscaler']").select_option("Lanczos")
    assert sent_request(page)["hires_fix"] == {"scale": 1.5, "resize_width": 0, "resize_height": 0, "upscaler": "Lanczos",
                                        "steps": 0, "denoise": 0.7}
    expect(page.locator("[data-field=hires_fix] .field-error")).to_contain_text("hires fix is not run")


def test_the_second_pass_schedule_box_travels_inside_hires_fix(page) -> None:
    quick(page, "a harbour")
    set_fields(page, hires_fix=True)
    box = page.locator("#gen-form [name='hires_fix.prompt_schedule']")
    box.fill('[{"until_step": 20, "prompt": "a cat"}]')
    assert sent_request(page)["hires_fix"]["prompt_schedule"] == [{"until_step": 20, "prompt": "a cat"}]
    box.fill("")
    assert "prompt_schedule" not in sent_request(page)["hires_fix"]
