"""Presets: Fooocus's JSON keys, the shipped default's Fooocus facts, notes for keys not used, bad files."""

from __future__ import annotations

import json

from contract.request import LoraEntry, MetadataScheme, Performance
from contract.task import OutputFormat, Sampler, Scheduler
from orchestrator.catalog import Catalog
from orchestrator.catalog.presets import load_presets, parse_preset
from orchestrator.catalog.styles import SPECIAL_STYLES, load_styles
from orchestrator.catalog.tables import SDXL_SIZES, parse_size
from tests.orchestrator.catalog_samples import REPO_CATALOG, catalog_dir


def test_shipped_default_has_fooocus_defaults():
    presets, problems = load_presets(REPO_CATALOG / "presets")
    assert problems == []
    v = presets["default"].values
    assert v.base_model_name == "juggernautXL_v8Rundiffusion.safetensors"
    assert v.refiner_model_name == "None" and v.refiner_switch == 0.5
    assert v.loras == [LoraEntry(name="sd_xl_offset_example-lora_1.0.safetensors", weight=0.1)]
    assert (v.guidance_scale, v.image_sharpness, v.adaptive_cfg, v.clip_skip) == (4.0, 2.0, 7.0, 2)
    assert (v.sampler_name, v.scheduler_name) == ("dpmpp_2m_sde_gpu", "karras")
    assert v.performance_selection is Performance.speed
    assert v.style_selections == ["Fooocus V2", "Fooocus Enhance", "Fooocus Sharp"]
    assert v.aspect_ratios_selection == "1152*896" and v.image_number == 2
    assert v.output_format is OutputFormat.png and v.metadata_scheme is MetadataScheme.fooocus
    assert v.save_metadata_to_images is True
    assert presets["default"].previous_default_models[0] == "juggernautXL_version8Rundiffusion.safetensors"


def test_every_shipped_preset_names_only_things_that_exist():
    presets, _ = load_presets(REPO_CATALOG / "presets")
    styles, _ = load_styles(REPO_CATALOG / "styles")
    assert len(presets) >= 4
    for preset in presets.values():
        v = preset.values
        for style in v.style_selections or []:
            assert style in styles or style in SPECIAL_STYLES, (preset.name, style)
        assert v.sampler_name is None or v.sampler_name in {s.value for s in Sampler}
        assert v.scheduler_name is None or v.scheduler_name in {s.value for s in Scheduler}
        if v.aspect_ratios_selection:
            assert parse_size(v.aspect_ratios_selection) in SDXL_SIZES
        assert [n for n in preset.notes if "downloads" not in n] == [], preset.notes


def test_keys_not_used_are_noted_never_silent(tmp_path):
    preset = parse_preset("p", json.dumps({
        "default_cfg_scale": 5,
        "checkpoint_downloads": {"a.safetensors": "https://example.invalid/a"},
        "default_advanced_checkbox": True,
        "default_sample_sharpness": "very",
        "default_image_number": 99,
    }).encode(), "p.json")
    assert preset.values.guidance_scale == 5.0
    assert preset.values.image_sharpness is None and preset.values.image_number is None
    notes = "\n".join(preset.notes)
    assert "checkpoint_downloads ignored: remgo never downloads" in notes
    assert "default_advanced_checkbox ignored" in notes
    assert "default_sample_sharpness ignored" in notes and "default_image_number ignored" in notes


def test_fooocus_lora_rows_old_and_new():
    preset = parse_preset("p", json.dumps({"default_loras": [
        [True, "a.safetensors", 0.5], ["b.safetensors", 0.25], [True, "None", 1.0], [False, "c.safetensors", 1]
    ]}).encode(), "p.json")
    assert preset.values.loras == [LoraEntry(name="a.safetensors", weight=0.5),
                                   LoraEntry(name="b.safetensors", weight=0.25),
                                   LoraEntry(name="c.safetensors", weight=1.0, enabled=False)]


def test_overwrite_switch_step_or_fraction_and_request_field_keys():
    step = parse_preset("p", b'{"default_overwrite_switch": 20}', "p.json")
    assert step.overwrite_switch_step == 20 and step.values.overwrite_switch is None
    frac = parse_preset("p", b'{"default_overwrite_switch": 0.6, "freeu_enabled": true}', "p.json")
    assert frac.values.overwrite_switch == 0.6 and frac.values.freeu_enabled is True
    off = parse_preset("p", b'{"default_overwrite_switch": -1}', "p.json")
    assert off.values.overwrite_switch is None and off.overwrite_switch_step is None


def test_bad_preset_files_are_reported_and_skipped(tmp_path):
    root = catalog_dir(tmp_path, models={})
    (root / "presets" / "broken.json").write_text("{oops")
    (root / "presets" / "list.json").write_text("[]")
    (root / "presets" / "odd.json").write_text(json.dumps({"default_cfg_scale": 5, "mystery": 1}))
    snap = Catalog(root).snapshot()
    assert "broken" not in snap.presets and "list" not in snap.presets
    assert "odd" in snap.presets
    problems = "\n".join(snap.problems)
    assert "presets/broken.json skipped" in problems and "presets/list.json skipped" in problems
    assert "presets/odd.json: mystery ignored" in problems
