"""The v1 positional payload's layout: Fooocus 2.5 `AsyncTask` argument order, one row per slot.

Each row names the slot, the JSON kind it must hold, and Fooocus's default-preset value (used when a v2
request is written back as v1). `contract.legacy` validates and converts against this table.
"""

from __future__ import annotations

import enum
from typing import Any, NamedTuple

ARGS_LENGTH = 152
LORA_SLOTS = 5
IMAGE_PROMPT_SLOTS = 4
ENHANCE_TABS = 3


class Kind(enum.Enum):
    bool = "a boolean"
    str = "a string"
    str_list = "a list of strings"
    number = "a number"
    int = "an integer"
    seed = "an integer or a numeric string"
    aspect = 'a "W×H" string (×, * or x between the numbers)'
    image = "null, an image string or an image object"


class Slot(NamedTuple):
    index: int
    name: str
    kind: Kind
    default: Any


_B, _S, _L, _N, _I = Kind.bool, Kind.str, Kind.str_list, Kind.number, Kind.int

_HEAD: list[tuple[str, Kind, Any]] = [
    ("generate_image_grid", _B, False),
    ("prompt", _S, ""),
    ("negative_prompt", _S, ""),
    ("style_selections", _L, ["Fooocus V2", "Fooocus Enhance", "Fooocus Sharp"]),
    ("performance_selection", _S, "Speed"),
    ("aspect_ratios_selection", Kind.aspect, "1152×896"),
    ("image_number", _I, 2),
    ("output_format", _S, "png"),
    ("seed", Kind.seed, -1),
    # RemGo's own docs call this slot seed_random; Fooocus 2.5 reads it as read_wildcards_in_order.
    ("read_wildcards_in_order", _B, False),
    ("sharpness", _N, 2.0),
    ("guidance_scale", _N, 4.0),
    ("base_model_name", _S, "juggernautXL_v8Rundiffusion.safetensors"),
    ("refiner_model_name", _S, "None"),
    ("refiner_switch", _N, 0.5),
]

_DEFAULT_LORAS = [(True, "sd_xl_offset_example-lora_1.0.safetensors", 0.1)] + [(True, "None", 1.0)] * 4

_MIDDLE: list[tuple[str, Kind, Any]] = [
    ("input_image_checkbox", _B, False),
    ("current_tab", _S, "uov"),
    ("uov_method", _S, "Disabled"),
    ("uov_input_image", Kind.image, None),
    ("outpaint_selections", _L, []),
    ("inpaint_input_image", Kind.image, None),
    ("inpaint_additional_prompt", _S, ""),
    ("inpaint_mask_image_upload", Kind.image, None),
    ("disable_preview", _B, False),
    ("disable_intermediate_results", _B, False),
    ("disable_seed_increment", _B, False),
    ("black_out_nsfw", _B, False),
    ("adm_scaler_positive", _N, 1.5),
    ("adm_scaler_negative", _N, 0.8),
    ("adm_scaler_end", _N, 0.3),
    ("adaptive_cfg", _N, 7.0),
    ("clip_skip", _I, 2),
    ("sampler_name", _S, "dpmpp_2m_sde_gpu"),
    ("scheduler_name", _S, "karras"),
    ("vae_name", _S, "Default (model)"),
    ("overwrite_step", _I, -1),
    ("overwrite_switch", _N, -1),
    ("overwrite_width", _I, -1),
    ("overwrite_height", _I, -1),
    ("overwrite_vary_strength", _N, -1),
    ("overwrite_upscale_strength", _N, -1),
    ("mixing_image_prompt_and_vary_upscale", _B, False),
    ("mixing_image_prompt_and_inpaint", _B, False),
    ("debugging_cn_preprocessor", _B, False),
    ("skipping_cn_preprocessor", _B, False),
    ("canny_low_threshold", _I, 64),
    ("canny_high_threshold", _I, 128),
    ("refiner_swap_method", _S, "joint"),
    ("controlnet_softness", _N, 0.25),
    ("freeu_enabled", _B, False),
    ("freeu_b1", _N, 1.01),
    ("freeu_b2", _N, 1.02),
    ("freeu_s1", _N, 0.99),
    ("freeu_s2", _N, 0.95),
    ("debugging_inpaint_preprocessor", _B, False),
    ("inpaint_disable_initial_latent", _B, False),
    ("inpaint_engine", _S, "v2.6"),
    ("inpaint_strength", _N, 1.0),
    ("inpaint_respective_field", _N, 0.618),
    ("inpaint_advanced_masking_checkbox", _B, False),
    ("invert_mask_checkbox", _B, False),
    ("inpaint_erode_or_dilate", _N, 0),
    ("save_final_enhanced_image_only", _B, False),
    ("save_metadata_to_images", _B, False),
    ("metadata_scheme", _S, "fooocus"),
]

_ENHANCE_HEAD: list[tuple[str, Kind, Any]] = [
    ("debugging_dino", _B, False),
    ("dino_erode_or_dilate", _N, 0),
    ("debugging_enhance_masks_checkbox", _B, False),
    ("enhance_input_image", Kind.image, None),
    ("enhance_checkbox", _B, False),
    ("enhance_uov_method", _S, "Disabled"),
    ("enhance_uov_processing_order", _S, "before"),
    ("enhance_uov_prompt_type", _S, "Original Prompts"),
]

_ENHANCE_TAB: list[tuple[str, Kind, Any]] = [
    ("enabled", _B, False),
    ("mask_dino_prompt_text", _S, ""),
    ("prompt", _S, ""),
    ("negative_prompt", _S, ""),
    ("mask_model", _S, "sam"),
    ("mask_cloth_category", _S, "full"),
    ("mask_sam_model", _S, "vit_b"),
    ("mask_text_threshold", _N, 0.25),
    ("mask_box_threshold", _N, 0.3),
    ("mask_sam_max_detections", _I, 0),
    ("inpaint_disable_initial_latent", _B, False),
    ("inpaint_engine", _S, "v2.6"),
    ("inpaint_strength", _N, 1.0),
    ("inpaint_respective_field", _N, 0.618),
    ("inpaint_erode_or_dilate", _N, 0),
    ("mask_invert", _B, False),
]


def _rows() -> list[tuple[str, Kind, Any]]:
    rows = list(_HEAD)
    for k, (enabled, name, weight) in enumerate(_DEFAULT_LORAS, start=1):
        rows += [
            (f"lora_{k}_enabled", _B, enabled),
            (f"lora_{k}_name", _S, name),
            (f"lora_{k}_weight", _N, weight),
        ]
    rows += _MIDDLE
    for k in range(1, IMAGE_PROMPT_SLOTS + 1):
        rows += [
            (f"image_prompt_{k}_image", Kind.image, None),
            (f"image_prompt_{k}_stop_at", _N, 0.5),
            (f"image_prompt_{k}_weight", _N, 0.6),
            (f"image_prompt_{k}_type", _S, "ImagePrompt"),
        ]
    rows += _ENHANCE_HEAD
    for t in range(1, ENHANCE_TABS + 1):
        rows += [(f"enhance_{t}_{name}", kind, default) for name, kind, default in _ENHANCE_TAB]
    return rows


SLOTS: tuple[Slot, ...] = tuple(
    Slot(i, name, kind, default) for i, (name, kind, default) in enumerate(_rows())
)
INDEX: dict[str, int] = {slot.name: slot.index for slot in SLOTS}

assert len(SLOTS) == ARGS_LENGTH, len(SLOTS)
assert len(INDEX) == ARGS_LENGTH, "slot names must be unique"
