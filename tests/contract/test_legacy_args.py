"""contract.legacy: the v1 positional payload → GenerateRequest, its refusals, and the way back."""

from __future__ import annotations

import msgspec
import pytest
from contract_strategies import for_type
from hypothesis import given, settings
from hypothesis import strategies as st

from contract.legacy import (
    LegacyError,
    args_to_request,
    from_legacy,
    is_legacy_payload,
    to_legacy,
    to_legacy_payload,
)
from contract.legacy_slots import INDEX, SLOTS, Kind
from contract.request import GenerateRequest, LoraEntry

# The image prompts and their knobs travel only while Fooocus runs them (tests/golden/legacy pins their trip).
PROMPT_FIELDS = ("image_prompts", "controlnet_softness", "canny_low_threshold", "canny_high_threshold",
                 "skipping_cn_preprocessor", "debugging_cn_preprocessor")


def args(**changes) -> list:
    values = [slot.default for slot in SLOTS]
    for name, value in changes.items():
        values[INDEX[name]] = value
    return values


def error_of(values: list) -> LegacyError:
    with pytest.raises(LegacyError) as caught:
        args_to_request(values)
    return caught.value


def test_slot_table_matches_the_issue_layout():
    assert len(SLOTS) == 152
    expected = {
        0: "generate_image_grid", 1: "prompt", 5: "aspect_ratios_selection", 8: "seed",
        9: "read_wildcards_in_order", 13: "refiner_model_name", 15: "lora_1_enabled", 29: "lora_5_weight",
        30: "input_image_checkbox", 38: "disable_preview", 41: "black_out_nsfw", 47: "sampler_name",
        62: "refiner_swap_method", 64: "freeu_enabled", 79: "metadata_scheme", 80: "image_prompt_1_image",
        95: "image_prompt_4_type", 100: "enhance_checkbox", 103: "enhance_uov_prompt_type",
        104: "enhance_1_enabled", 151: "enhance_3_mask_invert",
    }  # fmt: skip
    assert {index: SLOTS[index].name for index in expected} == expected


def test_envelope_is_checked():
    good = args()
    assert from_legacy({"fooocus_args_contract_version": 1, "fooocus_args": good}) == args_to_request(good)
    cases = [
        ({"fooocus_args": good}, "fooocus_args_contract_version"),
        ({"fooocus_args_contract_version": 2, "fooocus_args": good}, "fooocus_args_contract_version"),
        ({"fooocus_args_contract_version": True, "fooocus_args": good}, "fooocus_args_contract_version"),
        ({"fooocus_args_contract_version": 1}, "fooocus_args"),
        ({"fooocus_args_contract_version": 1, "fooocus_args": good, "task_id": "x"}, "task_id"),
        ({"fooocus_args_contract_version": 1, "fooocus_args": "abc"}, "fooocus_args"),
        ([1, good], "fooocus_args"),
        (b"{not json", "fooocus_args"),
    ]
    for payload, field in cases:
        with pytest.raises(LegacyError) as caught:
            from_legacy(payload)
        assert caught.value.field == field and caught.value.index is None
        assert caught.value.path == f"$.{field}"
    assert isinstance(caught.value, ValueError)


def test_json_text_is_accepted():
    text = msgspec.json.encode({"fooocus_args_contract_version": 1, "fooocus_args": args(prompt="x")})
    assert from_legacy(text).prompt == from_legacy(text.decode()).prompt == "x"


def test_is_legacy_payload():
    assert is_legacy_payload({"fooocus_args": []})
    assert is_legacy_payload({"fooocus_args_contract_version": 1})
    assert not is_legacy_payload({"prompt": "x"})
    assert not is_legacy_payload([1, 2])


@pytest.mark.parametrize(("given", "seed"), [(7, 7), ("123", 123), (" 42 ", 42), ("-1", -1), (-1, -1)])
def test_seed_accepts_int_or_numeric_string(given, seed):
    assert args_to_request(args(seed=given)).image_seed == seed


@pytest.mark.parametrize("bad", ["1e5", "0x10", "", 1.5, None, [1], True])
def test_seed_rejects_anything_else(bad):
    error = error_of(args(seed=bad))
    assert (error.index, error.field) == (8, "seed")


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("1152×896", "1152×896"),
        ("1152*896", "1152*896"),
        ("1152x896", "1152x896"),
        ("896 × 1152", "896 × 1152"),
        ("1152×896 <span style='color: grey;'> ∣ 9:7</span>", "1152×896"),  # a Fooocus UI label
        ("1152×896 ∣ 9:7", "1152×896"),
    ],
)
def test_aspect_ratio_forms(given, kept):
    assert args_to_request(args(aspect_ratios_selection=given)).aspect_ratios_selection == kept


@pytest.mark.parametrize("bad", ["square", "1152×", "×896", "1152-896", "1152×896px", 1152])
def test_aspect_ratio_must_be_w_by_h(bad):
    error = error_of(args(aspect_ratios_selection=bad))
    assert (error.index, error.field) == (5, "aspect_ratios_selection")


def test_none_refiner_and_loras():
    request = args_to_request(
        args(
            refiner_model_name="None",
            lora_1_enabled=False,
            lora_1_name="a.safetensors",
            lora_2_enabled=True,
            lora_2_name="None",
            lora_3_enabled=True,
            lora_3_name="b.safetensors",
            lora_3_weight=-1.25,
            lora_4_enabled=True,
            lora_4_name="c.safetensors",
            lora_4_weight=2,
        )  # fmt: skip
    )
    # "None" is Fooocus's explicit "no refiner": kept, so no preset can add one back.
    assert request.refiner_model_name == "None"
    # Fooocus keeps only enabled, named LoRAs; slot 5 is left at its default ("None").
    assert request.loras == [
        LoraEntry(name="b.safetensors", weight=-1.25),
        LoraEntry(name="c.safetensors", weight=2.0),
    ]


def test_lora_constraint_errors_point_at_the_right_slot():
    # Slot 1 is disabled and dropped, so the second LoRA kept is lora_3: its weight is slot 23.
    error = error_of(args(lora_1_enabled=False, lora_2_name="a", lora_3_name="b", lora_3_weight=2.5))
    assert (error.index, error.field) == (23, "lora_3_weight")


def test_overwrite_off_values_map_to_none():
    request = args_to_request(
        args(overwrite_step=-1, overwrite_switch=0, overwrite_width=-1, overwrite_height=0)
    )
    assert (request.overwrite_step, request.overwrite_switch, request.overwrite_width, request.overwrite_height) == (
        None, None, None, None,
    )  # fmt: skip
    request = args_to_request(
        args(overwrite_step=12, overwrite_switch=0.4, overwrite_width=640, overwrite_height=512)
    )
    assert (request.overwrite_step, request.overwrite_switch, request.overwrite_width, request.overwrite_height) == (
        12, 0.4, 640, 512,
    )  # fmt: skip
    error = error_of(args(overwrite_width=-8))
    assert (error.index, error.field) == (52, "overwrite_width")


def test_every_value_v1_carries_is_explicit():
    """A v1 client said everything: no field it can set may fall back to a preset."""
    request = args_to_request(args())
    carried = set(GenerateRequest.__struct_fields__) - {
        "preset", "seed_random", "overwrite_step", "overwrite_switch", "overwrite_width", "overwrite_height",
    } - {f for f in GenerateRequest.__struct_fields__ if f.startswith(("uov_", "inpaint_", "upscale_", "outpaint_"))} - {
        "overwrite_vary_strength", "overwrite_upscale_strength", "invert_mask_checkbox",
        "tiling",  # A1111's seamless tiling: Fooocus has none, so no v1 slot
        "unet_timestep",  # Fooocus conditions on the nearest timestep, always: no v1 slot
        "variation_seed", "variation_strength",  # A1111's variation seeds: Fooocus has none
        "hires_fix",  # A1111's hires fix: Fooocus has none, so no v1 slot
        "prompt_schedule",  # A1111's prompt editing: Fooocus has none, so no v1 slot
    } - set(PROMPT_FIELDS)  # fmt: skip  # the input-image fields travel only while their feature runs (tests/golden/legacy)
    assert sorted(field for field in carried if getattr(request, field) is None) == []


@pytest.mark.parametrize(
    ("changes", "index", "field"),
    [
        ({"generate_image_grid": True, "image_number": 2}, 0, "generate_image_grid"),
        ({"black_out_nsfw": True}, 41, "black_out_nsfw"),
        ({"disable_intermediate_results": True}, 39, "disable_intermediate_results"),
        ({"enhance_checkbox": True}, 100, "enhance_checkbox"),
        (
            {"input_image_checkbox": True, "current_tab": "inpaint", "inpaint_input_image": {"image": "aW1n"},
             "debugging_inpaint_preprocessor": True},
            INDEX["debugging_inpaint_preprocessor"],
            "debugging_inpaint_preprocessor",
        ),
        (
            {"input_image_checkbox": True, "current_tab": "enhance", "enhance_input_image": "aW1n"},
            30,
            "input_image_checkbox",
        ),
    ],
)
def test_features_this_version_cannot_run_are_refused(changes, index, field):
    error = error_of(args(**changes))
    assert (error.index, error.field) == (index, field)
    assert "not supported" in error.message


@pytest.mark.parametrize(
    "changes",
    [
        {"generate_image_grid": True, "image_number": 1},  # Fooocus builds no grid for one image
        {"input_image_checkbox": True, "current_tab": "disabled"},  # what RemGo's own client sends
        {"input_image_checkbox": True, "uov_method": "Disabled", "uov_input_image": "aW1n"},
        {"input_image_checkbox": True, "current_tab": "uov", "image_prompt_1_image": "aW1n"},
        {
            "input_image_checkbox": False,
            "current_tab": "ip",
            "image_prompt_1_image": "aW1n",
            "uov_input_image": "aW1n",
            "inpaint_input_image": {"image": "aW1n"},
        },
    ],
)
def test_switched_on_boxes_that_run_nothing_are_accepted(changes):
    assert isinstance(args_to_request(args(**changes)), GenerateRequest)


@pytest.mark.parametrize("slot", [s for s in SLOTS if s.kind is not Kind.image], ids=lambda s: s.name)
def test_every_slot_is_type_checked(slot):
    wrong = {"bool": "yes", "str": 1, "str_list": "x", "number": "1", "int": 1.5, "seed": 1.5, "aspect": 1}
    error = error_of(args(**{slot.name: wrong[slot.kind.name]}))
    assert (error.index, error.field) == (slot.index, slot.name)
    assert str(error).startswith(f"fooocus_args[{slot.index}] ({slot.name}): must be {slot.kind.value}")


def test_image_slots_accept_null_string_or_object_only():
    error = error_of(args(inpaint_mask_image_upload=[1, 2]))
    assert (error.index, error.field) == (37, "inpaint_mask_image_upload")


def test_to_legacy_fills_fooocus_defaults():
    values = to_legacy(GenerateRequest(prompt="only a prompt"))
    assert len(values) == 152 and values[1] == "only a prompt"
    assert values[INDEX["base_model_name"]] == "juggernautXL_v8Rundiffusion.safetensors"
    assert values[INDEX["seed"]] == -1 and values[INDEX["overwrite_step"]] == -1
    assert to_legacy_payload(GenerateRequest())["fooocus_args_contract_version"] == 1


def test_to_legacy_refuses_what_v1_cannot_say():
    with pytest.raises(LegacyError, match="preset"):
        to_legacy(GenerateRequest(preset="anime"))
    with pytest.raises(LegacyError, match="at most 5"):
        to_legacy(GenerateRequest(loras=[LoraEntry(name=f"l{i}") for i in range(6)]))


def test_to_legacy_accepts_lora_triples():
    values = to_legacy(
        GenerateRequest(loras=[(True, "x.safetensors", 0.5), LoraEntry(name="y", enabled=False)])
    )
    assert values[15:21] == [True, "x.safetensors", 0.5, False, "y", 1.0]


def test_what_remgo_takes_differently_from_fooocus_is_refused_by_slot():
    two_masks = error_of(args(input_image_checkbox=True, current_tab="inpaint",
                              inpaint_input_image={"image": "aW1n", "mask": "bWFzaw=="},
                              inpaint_advanced_masking_checkbox=True, inpaint_mask_image_upload="bWFzaw=="))
    assert two_masks.field == "inpaint_mask_image_upload" and "merge them into one mask" in two_masks.message
    both = error_of(args(input_image_checkbox=True, current_tab="ip", mixing_image_prompt_and_vary_upscale=True,
                         mixing_image_prompt_and_inpaint=True, uov_method="Vary (Subtle)", uov_input_image="aW1n",
                         inpaint_input_image="aW1n"))
    assert both.field == "mixing_image_prompt_and_inpaint" and "two jobs" in both.message


def test_input_images_travel_only_while_their_feature_runs():
    vary = args_to_request(args(input_image_checkbox=True, uov_method="Vary (Subtle)", uov_input_image="aW1n",
                                overwrite_vary_strength=-1))
    assert (vary.uov_method.value, vary.uov_input_image, vary.overwrite_vary_strength) == ("Vary (Subtle)", "aW1n",
                                                                                          None)
    assert vary.inpaint_input_image is None and vary.inpaint_strength is None
    # Fooocus runs nothing for an image on another tab, or with the box unchecked: neither does remgo.
    for changes in ({"input_image_checkbox": True, "current_tab": "inpaint", "uov_method": "Vary (Subtle)",
                     "uov_input_image": "aW1n"},
                    {"input_image_checkbox": False, "current_tab": "inpaint", "inpaint_input_image": "aW1n"}):
        request = args_to_request(args(**changes))
        assert request.uov_input_image is None and request.inpaint_input_image is None
    uploaded = args_to_request(args(input_image_checkbox=True, current_tab="inpaint", inpaint_input_image="aW1n",
                                    inpaint_advanced_masking_checkbox=True, inpaint_mask_image_upload="bWFzaw=="))
    assert (uploaded.inpaint_input_image, uploaded.inpaint_mask_image) == ("aW1n", "bWFzaw==")


_INPUT_FIELDS = [f for f in GenerateRequest.__struct_fields__
                 if f.startswith(("uov_", "inpaint_", "upscale_", "outpaint_", "overwrite_vary", "overwrite_upscale",
                                  "invert_mask"))] + list(PROMPT_FIELDS)
aspects = st.sampled_from(["1152×896", "1024*1024", "832x1216", None])
v2_requests = st.builds(
    lambda request, aspect, loras: msgspec.structs.replace(
        request, preset=None, aspect_ratios_selection=aspect, loras=loras,
        **dict.fromkeys(_INPUT_FIELDS),  # their trip through v1 is pinned by tests/golden/legacy
    ),
    for_type(GenerateRequest),
    aspects,
    st.none() | st.lists(for_type(LoraEntry), max_size=5),
)


@settings(max_examples=80, deadline=None)
@given(v2_requests)
def test_v2_to_v1_and_back(request):
    back = args_to_request(to_legacy(request))
    assert args_to_request(to_legacy(back)) == back  # a fixed point after one trip
    for field in (
        "prompt",
        "style_selections",
        "guidance_scale",
        "sampler_name",
        "metadata_scheme",
        "clip_skip",
    ):
        if getattr(request, field) is not None:
            assert getattr(back, field) == getattr(request, field)
    expected_seed = -1 if request.seed_random or request.image_seed is None else request.image_seed
    assert back.image_seed == expected_seed
    for field in ("overwrite_step", "overwrite_switch", "overwrite_width", "overwrite_height"):
        value = getattr(request, field)
        assert getattr(back, field) == (None if value in (None, -1, 0) else value)
    if request.loras is not None:
        kept = [lora for lora in request.loras if lora.enabled and lora.name != "None"]
        assert back.loras == [LoraEntry(name=lora.name, weight=lora.weight) for lora in kept]


@pytest.mark.parametrize(("changes", "slots"), [
    ({"input_image_checkbox": True, "current_tab": "ip", "image_prompt_2_image": "aW1n"}, [2]),
    # Fooocus runs image prompts with either mixing box checked, whatever the tab.
    ({"input_image_checkbox": True, "mixing_image_prompt_and_vary_upscale": True, "image_prompt_1_image": "aW1n",
      "image_prompt_3_image": {"image": "aW1n", "mask": None}}, [1, 3]),
    ({"input_image_checkbox": True, "current_tab": "inpaint", "mixing_image_prompt_and_inpaint": True,
      "image_prompt_4_image": "aW1n"}, [4]),
    # Not on another tab without a mixing box, nor with the input-image box unchecked.
    ({"input_image_checkbox": True, "current_tab": "uov", "image_prompt_1_image": "aW1n"}, []),
    ({"input_image_checkbox": False, "current_tab": "ip", "image_prompt_1_image": "aW1n"}, []),
])
def test_image_prompts_travel_while_fooocus_runs_them(changes, slots):
    given = {f"image_prompt_{k}_{part}": value for k in slots
             for part, value in (("stop_at", 0.25 * k), ("weight", 0.5 * k), ("type", "CPDS"))}
    request = args_to_request(args(**changes, **given, controlnet_softness=0.4, canny_low_threshold=10))
    prompts = request.image_prompts or []
    assert [(p.image, p.stop, p.weight, p.type.value) for p in prompts] == [
        ("aW1n", 0.25 * k, 0.5 * k, "CPDS") for k in slots]
    knobs = (request.controlnet_softness, request.canny_low_threshold, request.canny_high_threshold)
    assert knobs == ((0.4, 10, 128) if slots else (None, None, None))


def test_image_prompt_errors_name_their_slot():
    error = error_of(args(input_image_checkbox=True, current_tab="ip", image_prompt_3_image="aW1n",
                          image_prompt_3_type="Depth"))
    assert (error.index, error.field) == (INDEX["image_prompt_3_type"], "image_prompt_3_type")
    error = error_of(args(input_image_checkbox=True, current_tab="ip", image_prompt_2_image="aW1n",
                          image_prompt_2_weight=2.5))
    assert error.field == "image_prompt_2_weight"
    error = error_of(args(input_image_checkbox=True, current_tab="ip", image_prompt_1_image="aW1n",
                          canny_low_threshold=0))
    assert error.field == "canny_low_threshold"
