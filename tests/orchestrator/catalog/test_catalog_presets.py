"""Presets: Fooocus's JSON keys, the shipped default's Fooocus facts, notes for keys not used, bad files,
and each preset fitted to what the install has."""

from __future__ import annotations

import json

from contract.request import LoraEntry, MetadataScheme, Performance
from contract.task import OutputFormat, Sampler, Scheduler
from orchestrator.catalog import Catalog
from orchestrator.catalog.presets import load_presets, parse_preset
from orchestrator.catalog.styles import SPECIAL_STYLES, load_styles
from orchestrator.catalog.tables import SDXL_SIZES, parse_size
from tests.orchestrator.catalog.catalog_samples import (
    REPO_CATALOG,
    SD15_SHAPES,
    SDXL_LORA_SHAPES,
    catalog_dir,
    safetensors_with,
)
from tests.orchestrator.catalog.fooocus_style_names import FOOOCUS_STYLE_NAMES


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
        for style in v.style_selections or []:  # ours, or Fooocus's own (there once imported)
            assert style in styles or style in SPECIAL_STYLES or style in FOOOCUS_STYLE_NAMES, (preset.name, style)
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


FRESH = {"checkpoints": ["remgo-demo-sdxl.safetensors"]}  # what `remgo serve` leaves on a new machine


def test_a_fresh_install_gets_the_default_preset_fitted_once(tmp_path):
    catalog = Catalog(catalog_dir(tmp_path, models=FRESH, fooocus_styles=False))
    preset = catalog.preset("default")
    v = preset.values
    assert v.base_model_name == "remgo-demo-sdxl.safetensors"
    assert v.loras == [] and v.style_selections == []
    assert (v.guidance_scale, v.aspect_ratios_selection) == (4.0, "1152*896")  # the rest as written
    assert preset.adjustments == [
        "checkpoint juggernautXL_v8Rundiffusion.safetensors is not installed; remgo-demo-sdxl.safetensors "
        "(the first checkpoint found) is used",
        "LoRA sd_xl_offset_example-lora_1.0.safetensors is not installed; left out",
        "style Fooocus V2 needs Fooocus's prompt-expansion model, which remgo does not run; left out",
        "styles Fooocus Enhance, Fooocus Sharp are not installed; left out (`remgo styles import "
        "/path/to/Fooocus` adds Fooocus's styles)",
    ]
    assert preset.raw["default_model"] == "juggernautXL_v8Rundiffusion.safetensors"  # the file, untouched
    # RemGo's frontend reads the Fooocus keys and sends them back: they name what is here.
    fitted = preset.fitted_raw
    assert fitted["default_model"] == "remgo-demo-sdxl.safetensors"
    assert fitted["default_loras"] == [[True, "None", 1.0]] and fitted["default_styles"] == []
    assert fitted["default_cfg_scale"] == 4.0 and fitted["previous_default_models"] == preset.raw["previous_default_models"]
    report = catalog.fitting_report("default")
    assert report[:4] == [f"default preset 'default': {note}" for note in preset.adjustments]
    assert report[4:] == ["presets anime, lightning, realistic are fitted to this install too (GET "
                          "/v1/presets/NAME lists what changed)"]  # sketchbook names only what remgo ships


def test_an_install_with_the_presets_models_and_fooocus_styles_keeps_them(tmp_path):
    catalog = Catalog(catalog_dir(tmp_path))  # the standard set: Juggernaut, the offset LoRA, Fooocus styles
    preset = catalog.preset("default")
    assert preset.values.base_model_name == "juggernautXL_v8Rundiffusion.safetensors"
    assert preset.values.loras == [LoraEntry(name="sd_xl_offset_example-lora_1.0.safetensors", weight=0.1)]
    assert preset.values.style_selections == ["Fooocus Enhance", "Fooocus Sharp"]  # no prompt expansion here
    assert preset.adjustments == [
        "style Fooocus V2 needs Fooocus's prompt-expansion model, which remgo does not run; left out"]
    assert catalog.preset("sketchbook").adjustments == []


def test_fitting_uses_earlier_defaults_and_leaves_out_missing_extras(tmp_path):
    models = {"checkpoints": ["a.safetensors", "juggernautXL_v7Rundiffusion.safetensors"],
              "loras": ["here.safetensors"], "vae": []}
    root = catalog_dir(tmp_path, models=models, fooocus_styles=False)
    (root / "presets" / "mine.json").write_text(json.dumps({
        "default_model": "gone.safetensors", "previous_default_models": ["juggernautXL_v7Rundiffusion.safetensors"],
        "default_refiner": "gone-refiner.safetensors", "default_vae": "gone-vae.safetensors",
        "default_loras": [[True, "here.safetensors", 0.5], [False, "gone-lora.safetensors", 1.0], ["None", 1.0]],
        "default_styles": ["Random Style", "watercolor-painting", "No Such Style"]}))
    preset = Catalog(root).preset("mine")
    v = preset.values
    assert v.base_model_name == "juggernautXL_v7Rundiffusion.safetensors"
    assert (v.refiner_model_name, v.vae_name) == ("None", "Default (model)")
    assert v.loras == [LoraEntry(name="here.safetensors", weight=0.5)]
    assert v.style_selections == ["Random Style", "Watercolor Painting"]  # a raw name becomes the one shown
    assert preset.adjustments == [
        "checkpoint gone.safetensors is not installed; juggernautXL_v7Rundiffusion.safetensors (an earlier "
        "default of this preset) is used",
        "refiner gone-refiner.safetensors is not installed; no refiner is used",
        "VAE gone-vae.safetensors is not installed; the checkpoint's own VAE is used",
        "LoRA gone-lora.safetensors is not installed; left out",
        "style No Such Style is not installed; left out (`remgo styles import /path/to/Fooocus` adds Fooocus's "
        "styles)",
    ]
    assert preset.fitted_raw["default_loras"] == [[True, "here.safetensors", 0.5], [True, "None", 1.0],
                                                  ["None", 1.0]]
    assert (preset.fitted_raw["default_refiner"], preset.fitted_raw["default_vae"]) == ("None", "Default (model)")


def test_a_preset_lora_that_cannot_go_on_the_fitted_checkpoint_is_left_out(tmp_path):
    root = catalog_dir(tmp_path, models={}, fooocus_styles=False)
    safetensors_with(root / "models" / "checkpoints" / "only-sd15.safetensors", SD15_SHAPES)
    safetensors_with(root / "models" / "loras" / "sd_xl_offset_example-lora_1.0.safetensors", SDXL_LORA_SHAPES)
    preset = Catalog(root).preset("default")
    assert preset.values.base_model_name == "only-sd15.safetensors" and preset.values.loras == []
    assert ("LoRA sd_xl_offset_example-lora_1.0.safetensors is made for SDXL (2048-wide prompt features); "
            "checkpoint only-sd15.safetensors is SD 1.5 (768-wide prompt features); left out") in preset.adjustments
