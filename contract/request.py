"""The v2 request a client sends (HTTP body of `POST /v1/jobs`), in the field names Fooocus users know.

`None` means "not given": the orchestrator fills it from the preset, then from its settings
(request value > preset > settings default). Names of models, styles, samplers … are plain strings
here and are checked against the catalog by the normalizer, which can list close matches.
"""

from __future__ import annotations

import enum
from typing import Annotated, Union

import msgspec

from contract.task import MAX_SEED, OutputFormat, RefinerSwapMethod


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
