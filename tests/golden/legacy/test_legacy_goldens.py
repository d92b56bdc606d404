"""v1 payload goldens: each `<name>.v1.json` (152 positional values) must convert to `<name>.v2.json`.

`REMGO_REGEN_GOLDENS=1 pytest tests/golden/legacy` rewrites the `.v2.json` files from the current code;
review the diff before committing it (see tests/golden/README.md).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import msgspec
import pytest

from contract.legacy import LegacyError, from_legacy, to_legacy
from contract.request import GenerateRequest

HERE = Path(__file__).parent
CASES = sorted(path.name.removesuffix(".v1.json") for path in HERE.glob("*.v1.json"))
REGEN = os.environ.get("REMGO_REGEN_GOLDENS") == "1"


def _payload(name: str) -> dict:
    return json.loads((HERE / f"{name}.v1.json").read_text(encoding="utf-8"))


def _render(request: GenerateRequest) -> str:
    return json.dumps(msgspec.to_builtins(request), indent=2, ensure_ascii=False) + "\n"


def test_the_required_goldens_exist():
    assert {"plain", "loras_refiner", "every_tunable"} <= set(CASES)
    for name in CASES:
        assert len(_payload(name)["fooocus_args"]) == 152


@pytest.mark.parametrize("name", CASES)
def test_v1_payload_matches_golden(name):
    request = from_legacy(_payload(name))
    expected_path = HERE / f"{name}.v2.json"
    if REGEN:
        expected_path.write_text(_render(request), encoding="utf-8")
    # Compared as values, never as text: how a JSON library lays a file out is not our behaviour.
    expected = json.loads(expected_path.read_text(encoding="utf-8"))
    assert msgspec.to_builtins(request) == expected
    # Written back as v1 and read again, nothing changes.
    assert from_legacy({"fooocus_args_contract_version": 1, "fooocus_args": to_legacy(request)}) == request


def test_every_tunable_golden_changes_every_tunable():
    """Each v2 field a v1 payload can set differs from the plain golden (so none is silently dropped)."""
    plain = msgspec.to_builtins(from_legacy(_payload("plain")))
    tuned = msgspec.to_builtins(from_legacy(_payload("every_tunable")))
    settable = (set(GenerateRequest.__struct_fields__) - {"preset", "seed_random"} - INPUT_FIELDS - NOT_IN_V1
                - PROMPT_FIELDS)
    unchanged = sorted(field for field in settable if plain.get(field) == tuned.get(field))
    assert unchanged == []


# Carried only while Fooocus would run an input-image feature: the vary and inpaint_outpaint goldens set them.
INPUT_FIELDS = {
    "uov_method", "uov_input_image", "overwrite_vary_strength", "overwrite_upscale_strength", "inpaint_input_image",
    "inpaint_mask_image", "inpaint_additional_prompt", "outpaint_selections", "inpaint_strength",
    "inpaint_respective_field", "inpaint_erode_or_dilate", "invert_mask_checkbox", "inpaint_disable_initial_latent",
    "inpaint_engine",
}
NOT_IN_V1 = {"upscale_value", "upscale_model", "upscale_fallback",  # Fooocus-API's and remgo's: no v1 slot
             "tiling",  # A1111's: Fooocus has no seamless tiling
             "hires_fix",  # A1111's: Fooocus has no hires fix
             "inpaint_a1111",  # A1111's inpainting steps: Fooocus inpaints its own way
             "prompt_schedule",  # A1111's prompt editing: Fooocus has none
             "unet_timestep",  # Fooocus conditions the UNet on the nearest timestep, always
             "variation_seed", "variation_strength"}  # A1111's variation seeds: Fooocus has none
# Carried only while Fooocus would run image prompts: the image_prompts golden sets them.
PROMPT_FIELDS = {"image_prompts", "controlnet_softness", "canny_low_threshold", "canny_high_threshold",
                 "skipping_cn_preprocessor", "debugging_cn_preprocessor"}


def test_the_input_image_goldens_set_every_input_field():
    set_by = {name: {f for f, v in msgspec.to_builtins(from_legacy(_payload(name))).items() if v is not None}
              for name in ("vary", "inpaint_outpaint")}
    assert INPUT_FIELDS <= set_by["vary"] | set_by["inpaint_outpaint"]
    assert not set_by["vary"] & (INPUT_FIELDS - {"uov_method", "uov_input_image", "overwrite_vary_strength",
                                                   "overwrite_upscale_strength"})
    assert not NOT_IN_V1 & (set_by["vary"] | set_by["inpaint_outpaint"])


def test_the_image_prompts_golden_sets_every_prompt_field_with_its_input_image():
    plain = msgspec.to_builtins(from_legacy(_payload("plain")))
    mixed = msgspec.to_builtins(from_legacy(_payload("image_prompts")))
    assert all(plain.get(f) is None and mixed.get(f) not in (None, False) for f in PROMPT_FIELDS)
    assert [p["type"] for p in mixed["image_prompts"]] == ["ImagePrompt", "FaceSwap", "PyraCanny", "CPDS"]
    assert mixed["uov_method"] == "Vary (Strong)"  # mixed with Vary, as its mixing box asks


def _mutated(index: int, value) -> dict:
    payload = _payload("plain")
    payload["fooocus_args"][index] = value
    return payload


@pytest.mark.parametrize(
    ("payload", "index", "field"),
    [
        pytest.param(
            {**_payload("plain"), "fooocus_args": _payload("plain")["fooocus_args"][:151]},
            None,
            "fooocus_args",
            id="151-values",
        ),
        pytest.param(
            {**_payload("plain"), "fooocus_args": _payload("plain")["fooocus_args"] + [None]},
            None,
            "fooocus_args",
            id="153-values",
        ),
        pytest.param(_mutated(1, 5), 1, "prompt", id="prompt-not-string"),
        pytest.param(_mutated(3, "Fooocus V2"), 3, "style_selections", id="styles-not-list"),
        pytest.param(_mutated(6, "2"), 6, "image_number", id="image-number-string"),
        pytest.param(_mutated(8, "12ab"), 8, "seed", id="seed-not-numeric"),
        pytest.param(_mutated(8, True), 8, "seed", id="seed-bool"),
        pytest.param(_mutated(11, "4.0"), 11, "guidance_scale", id="cfg-string"),
        pytest.param(_mutated(11, 31.0), 11, "guidance_scale", id="cfg-out-of-range"),
        pytest.param(_mutated(16, None), 16, "lora_1_name", id="lora-name-null"),
        pytest.param(_mutated(47, ["euler"]), 47, "sampler_name", id="sampler-list"),
        pytest.param(_mutated(64, 1), 64, "freeu_enabled", id="freeu-int"),
        pytest.param(_mutated(79, "exif"), 79, "metadata_scheme", id="scheme-unknown"),
        pytest.param(_mutated(120, "x"), 120, "enhance_2_enabled", id="enhance-tab-type"),
    ],
)
def test_broken_payloads_name_index_and_field(payload, index, field):
    with pytest.raises(LegacyError) as caught:
        from_legacy(payload)
    assert (caught.value.index, caught.value.field) == (index, field)
    assert field in str(caught.value)
    if index is not None:
        assert f"fooocus_args[{index}]" in str(caught.value)
