"""Fooocus-API's request bodies as msgspec Structs: CommonRequest with its AdvancedParams and Lora, and the
bodies of the image routes (Fooocus-API's docs/openapi.json and its fooocusapi/models).

`None` is "not given": the preset and remgo's defaults fill it, as Fooocus's config fills Fooocus-API's.
A key a body does not know is refused (Fooocus-API ignores it), so no knob is dropped without a word.
Ranges are Fooocus-API's; remgo's own (contract/request.py) are checked again when the request is built.
"""

from __future__ import annotations

import enum
from typing import Annotated, Union

import msgspec

from contract.request import ImageSource, OutpaintDirection, Performance, UovMethod

# The file as base64 or a data URI, an http(s) URL (fetched only from the hosts the settings allow), or
# remgo's {"upload_id"} / {"history_id"}.
ImageField = Union[str, ImageSource, None]
Unit = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]
Side = Annotated[int, msgspec.Meta(ge=-1, le=2048)]
Strength = Annotated[float, msgspec.Meta(ge=-1.0, le=1.0)]
Canny = Annotated[int, msgspec.Meta(ge=1, le=255)]


class Strict(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class ControlNetType(str, enum.Enum):
    image_prompt = "ImagePrompt"
    face_swap = "FaceSwap"
    pyra_canny = "PyraCanny"
    cpds = "CPDS"


class Lora(Strict, frozen=True, kw_only=True):
    model_name: str
    weight: Annotated[float, msgspec.Meta(ge=-2.0, le=2.0)] = 0.5
    enabled: bool = True  # required by Fooocus-API's schema, left out by its own docs' examples


class ImagePrompt(Strict, frozen=True, kw_only=True):
    cn_img: ImageField = None
    cn_stop: Unit | None = None
    cn_weight: Annotated[float, msgspec.Meta(ge=0.0, le=2.0)] | None = None
    cn_type: ControlNetType = ControlNetType.image_prompt


class AdvancedParams(Strict, frozen=True, kw_only=True):
    # The same names in remgo's request, passed on as they are.
    disable_preview: bool | None = None
    disable_seed_increment: bool | None = None
    adm_scaler_positive: float | None = None
    adm_scaler_negative: float | None = None
    adm_scaler_end: float | None = None
    adaptive_cfg: float | None = None
    clip_skip: int | None = None
    sampler_name: str | None = None
    scheduler_name: str | None = None
    overwrite_step: Annotated[int, msgspec.Meta(ge=-1, le=200)] | None = None
    overwrite_switch: Strength | None = None
    overwrite_width: Side | None = None
    overwrite_height: Side | None = None
    overwrite_vary_strength: Strength | None = None
    overwrite_upscale_strength: Strength | None = None
    refiner_swap_method: str | None = None
    freeu_enabled: bool | None = None
    freeu_b1: float | None = None
    freeu_b2: float | None = None
    freeu_s1: float | None = None
    freeu_s2: float | None = None
    inpaint_disable_initial_latent: bool | None = None
    inpaint_engine: str | None = None
    inpaint_strength: Unit | None = None
    inpaint_respective_field: Unit | None = None
    invert_mask_checkbox: bool | None = None
    inpaint_erode_or_dilate: Annotated[int, msgspec.Meta(ge=-64, le=64)] | None = None
    vae_name: str | None = None
    # remgo's: with no super-resolution model to run, Upscale enlarges with Lanczos only when asked.
    upscale_fallback: bool | None = None
    # Fooocus-API's own: what it does is done here too (mapping.py says how).
    disable_intermediate_results: bool | None = None
    inpaint_mask_upload_checkbox: bool | None = None
    inpaint_advanced_masking_checkbox: bool | None = None
    # Image prompts: the two mixing flags (mapping.py says how they are read) and the shared knobs.
    mixing_image_prompt_and_vary_upscale: bool | None = None
    mixing_image_prompt_and_inpaint: bool | None = None
    debugging_cn_preprocessor: bool | None = None
    skipping_cn_preprocessor: bool | None = None
    canny_low_threshold: Canny | None = None
    canny_high_threshold: Canny | None = None
    controlnet_softness: Unit | None = None
    # Image Enhance only (its routes answer 501), so they change nothing either.
    debugging_dino: bool | None = None
    dino_erode_or_dilate: Annotated[int, msgspec.Meta(ge=-64, le=64)] | None = None
    debugging_enhance_masks_checkbox: bool | None = None
    # Features remgo lacks: taken when off, refused when asked for.
    debugging_inpaint_preprocessor: bool | None = None
    black_out_nsfw: bool | None = None


class CommonRequest(Strict, frozen=True, kw_only=True):
    """`POST /v1/generation/text-to-image`, and what every other body adds to."""

    prompt: str | None = None
    negative_prompt: str | None = None
    style_selections: list[str] | None = None
    performance_selection: Performance | None = None
    aspect_ratios_selection: str | None = None
    image_number: Annotated[int, msgspec.Meta(ge=1, le=32)] | None = None
    image_seed: int | None = None
    sharpness: Annotated[float, msgspec.Meta(ge=0.0, le=30.0)] | None = None
    guidance_scale: Annotated[float, msgspec.Meta(ge=1.0, le=30.0)] | None = None
    base_model_name: str | None = None
    refiner_model_name: str | None = None
    refiner_switch: Annotated[float, msgspec.Meta(ge=0.1, le=1.0)] | None = None
    loras: list[Lora] | None = None
    advanced_params: AdvancedParams | None = None
    save_meta: bool | None = None
    meta_scheme: str | None = None
    save_extension: str | None = None
    save_name: str | None = None
    read_wildcards_in_order: bool | None = None
    require_base64: bool = False
    async_process: bool = False
    webhook_url: str | None = None


class TextToImageWithIp(CommonRequest, frozen=True, kw_only=True):
    """`POST /v2/generation/text-to-image-with-ip`."""

    image_prompts: list[ImagePrompt] = []


class UpscaleVary(CommonRequest, frozen=True, kw_only=True):
    """`POST /{v1,v2}/generation/image-upscale-vary` (v2's default method is Upscale (2x))."""

    input_image: ImageField = None
    uov_method: UovMethod = UovMethod.upscale_2
    upscale_value: Annotated[float, msgspec.Meta(ge=1.0, le=5.0)] | None = None
    image_prompts: list[ImagePrompt] = []


class InpaintOutpaint(CommonRequest, frozen=True, kw_only=True):
    """`POST /{v1,v2}/generation/image-inpaint-outpaint`; `/image-prompt` takes the same fields."""

    input_image: ImageField = None
    input_mask: ImageField = None
    inpaint_additional_prompt: str | None = None
    outpaint_selections: list[OutpaintDirection] | None = None
    outpaint_distance_left: int | None = None
    outpaint_distance_right: int | None = None
    outpaint_distance_top: int | None = None
    outpaint_distance_bottom: int | None = None
    image_prompts: list[ImagePrompt] = []


AnyRequest = Union[CommonRequest, TextToImageWithIp, UpscaleVary, InpaintOutpaint]
IMAGE_FIELDS = ("input_image", "input_mask")
