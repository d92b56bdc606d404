"""The v2 request a client sends (HTTP body of `POST /v1/jobs`), in the field names Fooocus users know.

`None` means "not given": the orchestrator fills it from the preset, then from its settings
(request value > preset > settings default). Names of models, styles, samplers … are plain strings
here and are checked against the catalog by the normalizer, which can list close matches.
"""

from __future__ import annotations

import enum
from typing import Annotated, Union

import msgspec

from contract.hires import HiresFixRequest
from contract.image_prompt import MAX_IMAGE_PROMPTS, ImagePromptType
from contract.inpaint_a1111 import A1111InpaintRequest
from contract.prompt_schedule import MAX_ENTRIES, PromptScheduleEntry
from contract.task import MAX_SEED, OutputFormat, RefinerSwapMethod, UnetTimestep


class Performance(str, enum.Enum):
    quality = "Quality"
    speed = "Speed"
    extreme_speed = "Extreme Speed"
    lightning = "Lightning"
    hyper_sd = "Hyper-SD"


class MetadataScheme(str, enum.Enum):
    fooocus = "fooocus"
    a1111 = "a1111"


Weight = Annotated[float, msgspec.Meta(ge=-2.0, le=2.0)]


class UovMethod(str, enum.Enum):
    """Fooocus's "Upscale or Variation" choices (Custom: `upscale_value` is the factor, as in Fooocus-API)."""

    disabled = "Disabled"
    vary_subtle = "Vary (Subtle)"
    vary_strong = "Vary (Strong)"
    upscale_15 = "Upscale (1.5x)"
    upscale_2 = "Upscale (2x)"
    upscale_fast = "Upscale (Fast 2x)"
    upscale_custom = "Upscale (Custom)"


class OutpaintDirection(str, enum.Enum):
    left = "Left"
    right = "Right"
    top = "Top"
    bottom = "Bottom"


class ImageSource(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """An input image by reference: an image of the history, or a file sent before to `POST /v1/uploads`
    (its id is the file's sha256). Exactly one of the two."""

    history_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None  # the history's image id
    upload_id: Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{64}$")] | None = None

    def __post_init__(self) -> None:
        if (self.history_id is None) == (self.upload_id is None):
            raise ValueError("give exactly one of history_id and upload_id")


# An input image: the file as base64 or a data URI (data:image/png;base64,…), or an ImageSource.
ImageRef = Union[str, ImageSource]
Strength = Annotated[float, msgspec.Meta(ge=-1.0, le=1.0)]  # Fooocus's -1 (or 0) = not overridden


class ImagePromptRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One of up to four image prompts. A stop or weight left out (or 0) takes the type's default, as in
    Fooocus: ImagePrompt 0.5 / 0.6, FaceSwap 0.9 / 0.75, PyraCanny and CPDS 0.5 / 1.0."""

    image: ImageRef
    type: ImagePromptType = ImagePromptType.image_prompt
    stop: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)] | None = None
    weight: Annotated[float, msgspec.Meta(ge=0.0, le=2.0)] | None = None


class LoraEntry(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: str
    weight: Weight = 1.0
    enabled: bool = True


# RemGo's `[enabled, name, weight]` triple or a `{name, weight, enabled}` object.
LoraTriple = tuple[bool, str, Weight]
LoraItem = Union[LoraTriple, LoraEntry]


class GenerateRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    prompt: Annotated[str, msgspec.Meta(max_length=20000)] = ""
    negative_prompt: Annotated[str, msgspec.Meta(max_length=20000)] | None = None
    style_selections: list[str] | None = None
    performance_selection: Performance | None = None
    aspect_ratios_selection: str | None = None
    image_number: Annotated[int, msgspec.Meta(ge=1, le=32)] | None = None
    # -1 (or seed_random) asks for a random seed.
    image_seed: Annotated[int, msgspec.Meta(ge=-1, le=MAX_SEED)] | None = None
    seed_random: bool | None = None
    image_sharpness: Annotated[float, msgspec.Meta(ge=0.0, le=30.0)] | None = None
    guidance_scale: Annotated[float, msgspec.Meta(ge=1.0, le=30.0)] | None = None
    base_model_name: str | None = None
    refiner_model_name: str | None = None
    refiner_switch: Annotated[float, msgspec.Meta(ge=0.1, le=1.0)] | None = None
    sampler_name: str | None = None
    scheduler_name: str | None = None
    vae_name: str | None = None
    output_format: OutputFormat | None = None
    clip_skip: Annotated[int, msgspec.Meta(ge=1, le=12)] | None = None
    loras: list[LoraItem] | None = None
    adaptive_cfg: Annotated[float, msgspec.Meta(ge=1.0, le=30.0)] | None = None
    adm_scaler_positive: Annotated[float, msgspec.Meta(ge=0.1, le=3.0)] | None = None
    adm_scaler_negative: Annotated[float, msgspec.Meta(ge=0.1, le=3.0)] | None = None
    adm_scaler_end: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)] | None = None
    refiner_swap_method: RefinerSwapMethod | None = None
    freeu_enabled: bool | None = None
    freeu_b1: Annotated[float, msgspec.Meta(ge=0.0, le=3.0)] | None = None
    freeu_b2: Annotated[float, msgspec.Meta(ge=0.0, le=3.0)] | None = None
    freeu_s1: Annotated[float, msgspec.Meta(ge=0.0, le=3.0)] | None = None
    freeu_s2: Annotated[float, msgspec.Meta(ge=0.0, le=3.0)] | None = None
    # Fooocus's "-1 = off" convention is accepted and means the same as None.
    overwrite_step: Annotated[int, msgspec.Meta(ge=-1, le=200)] | None = None
    overwrite_switch: Annotated[float, msgspec.Meta(ge=-1.0, le=1.0)] | None = None
    overwrite_width: Annotated[int, msgspec.Meta(ge=-1, le=4096)] | None = None
    overwrite_height: Annotated[int, msgspec.Meta(ge=-1, le=4096)] | None = None
    disable_seed_increment: bool | None = None
    disable_preview: bool | None = None
    save_metadata_to_images: bool | None = None
    metadata_scheme: MetadataScheme | None = None
    preset: str | None = None
    read_wildcards_in_order: bool | None = None
    # Input image: Vary / Upscale (uov_*) or Inpaint / Outpaint (inpaint_*); one at a time.
    uov_method: UovMethod | None = None
    uov_input_image: ImageRef | None = None
    upscale_value: Annotated[float, msgspec.Meta(ge=1.0, le=4.0)] | None = None
    upscale_model: str | None = None
    upscale_fallback: bool | None = None  # no upscale model installed: a Lanczos resize, when asked for
    overwrite_vary_strength: Strength | None = None
    overwrite_upscale_strength: Strength | None = None
    inpaint_input_image: ImageRef | None = None
    inpaint_mask_image: ImageRef | None = None
    inpaint_additional_prompt: Annotated[str, msgspec.Meta(max_length=20000)] | None = None
    outpaint_selections: list[OutpaintDirection] | None = None
    inpaint_strength: Annotated[float, msgspec.Meta(gt=0.0, le=1.0)] | None = None
    inpaint_respective_field: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)] | None = None
    inpaint_erode_or_dilate: Annotated[int, msgspec.Meta(ge=-64, le=64)] | None = None
    invert_mask_checkbox: bool | None = None
    inpaint_disable_initial_latent: bool | None = None
    inpaint_engine: str | None = None  # "None" (the checkpoint as is), "v1", "v2.5", "v2.6"
    # Image prompts (IP-Adapter, control models), mixed freely with text and with the input image above.
    image_prompts: Annotated[list[ImagePromptRequest], msgspec.Meta(max_length=MAX_IMAGE_PROMPTS)] | None = None
    controlnet_softness: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)] | None = None
    canny_low_threshold: Annotated[int, msgspec.Meta(ge=1, le=255)] | None = None
    canny_high_threshold: Annotated[int, msgspec.Meta(ge=1, le=255)] | None = None
    skipping_cn_preprocessor: bool | None = None
    debugging_cn_preprocessor: bool | None = None
    # AUTOMATIC1111's seamless tiling: the image wraps around at its edges (every convolution pads circularly).
    tiling: bool | None = None
    # AUTOMATIC1111's variation seeds (contract/task.py Variation): each image's starting noise turned towards the
    # noise of `variation_seed` (+ the image's index) by `variation_strength`; 0 or None: off; -1: a random seed.
    variation_seed: Annotated[int, msgspec.Meta(ge=-1, le=MAX_SEED)] | None = None
    variation_strength: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)] | None = None
    # The UNet's timestep at a noise level between two training timesteps (contract/task.py UnetTimestep):
    # `nearest` (Fooocus's, the default) or `interpolated` (AUTOMATIC1111's, which its face sends). None: nearest.
    unet_timestep: UnetTimestep | None = None
    # AUTOMATIC1111's hires fix: a second pass at a larger size (contract/hires.py); None: off.
    hires_fix: HiresFixRequest | None = None
    # AUTOMATIC1111's img2img inpainting steps (contract/inpaint_a1111.py) for the Inpaint; None: Fooocus's.
    inpaint_a1111: A1111InpaintRequest | None = None
    # A per-step conditioning schedule (contract/prompt_schedule.py: AUTOMATIC1111's prompt editing and
    # alternation, which its face fills): the entries' prompts are what is encoded, step by step; `prompt` and
    # `negative_prompt` are then what the images record and where `<lora:…>` tags are read. None: none.
    prompt_schedule: Annotated[list[PromptScheduleEntry], msgspec.Meta(min_length=1, max_length=MAX_ENTRIES)] | (
        None) = None
