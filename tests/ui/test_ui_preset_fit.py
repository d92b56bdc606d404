"""The page on a fresh install (one checkpoint, no LoRA, none of Fooocus's styles): the default preset as
fitted to it, with what was changed said once beside the server's status."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.integration.test_styles_and_presets import FRESH_NOTES
from tests.ui.conftest import quick, shot


def test_the_form_shows_only_what_this_install_has(page) -> None:
    form = page.locator("#gen-form")
    expect(form.locator("[name=base_model_name]")).to_have_value("tiny.safetensors")
    # No LoRA slot names the preset's missing offset LoRA, let alone enabled; nothing "(not found)".
    slots = page.eval_on_selector_all(
        "#lora-slots .lora", "rows => rows.map(r => [r.querySelector('select').value, r.querySelector('input').checked])")
    assert len(slots) == 5 and all(name == "None" for name, _ in slots), slots
    assert page.locator("#lora-slots option", has_text="not found").count() == 0
    # No style is checked: Fooocus V2 (no prompt expansion here) and Fooocus's styles (not imported) are not.
    expect(page.locator("#style-count")).to_have_text("0")
    assert page.locator("#style-list .style-item.on").count() == 0
    assert page.locator("#style-list input:checked").count() == 0


def test_the_changes_are_said_once_in_the_status_bar(page) -> None:
    notes = page.locator("#install-notes")
    expect(notes).to_have_count(1)
    expect(notes.locator("summary")).to_have_text("preset default: 4 changes for this install")
    expect(notes.locator("ul")).to_be_hidden()  # folded until asked for
    notes.locator("summary").click()
    expect(notes.locator("ul")).to_be_visible()
    assert notes.locator("li").all_inner_texts() == FRESH_NOTES
    shot(page, "install-notes")
    # A job's own list of warnings stays empty: nothing of this is repeated per job.
    quick(page, "a red fox", steps=2)
    page.click("#generate")
    expect(page.locator("#live-title")).to_contain_text("succeeded", timeout=20000)
    expect(page.locator("#live-warnings li")).to_have_count(0)
