"""The per-image parameter record: what was asked for one image, in the orchestrator's terms. Neutral: the
normalizer fills it, the job store keeps it, the metadata module renders and parses it, the views show it."""

from __future__ import annotations

import msgspec


class LoraUse(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    weight: float
    hash: str | None = None


class InputUse(msgspec.Struct, frozen=True, kw_only=True):
    """The input image an image was made from, and how (Vary, Upscale, Inpaint, Outpaint)."""

    method: str  # Fooocus's name: "Vary (Subtle)", "Upscale (2x)", …, "Inpaint", "Outpaint"
    denoise: float | None  # None: no diffusion (an upscale returned as resized)
    image_sha256: str
    history_id: str | None = None  # when the input was an image of the history
    upscale_factor: float | None = None
    upscaler: str | None = None  # the super-resolution model, or "Lanczos"
    mask_sha256: str | None = None
    outpaint: list[str] = []
    respective_field: float | None = None
    erode_or_dilate: int | None = None
    invert_mask: bool | None = None
    inpaint_engine: str | None = None


class PromptUse(msgspec.Struct, frozen=True, kw_only=True):
    """One image prompt an image was made with."""

    type: str  # Fooocus's name: "ImagePrompt", "FaceSwap", "PyraCanny", "CPDS"
    stop: float
    weight: float
    image_sha256: str
    history_id: str | None = None  # when the image was one of the history


class ImageParams(msgspec.Struct, frozen=True, kw_only=True):
    """What was asked for one image, in the orchestrator's terms (catalog names, not paths)."""

    prompt: str
    negative_prompt: str
    styles: list[str]
    performance: str
    steps: int
    width: int
    height: int
    guidance_scale: float
    sharpness: float
    adm_guidance: tuple[float, float, float]
    base_model: str
    sampler: str
    scheduler: str
    seed: int
    clip_skip: int
    adaptive_cfg: float
    refiner_switch: float
    base_model_hash: str | None = None
    refiner_model: str | None = None
    refiner_model_hash: str | None = None
    refiner_swap_method: str = "joint"
    vae: str | None = None
    loras: list[LoraUse] = []
    # Prompt chunks after styles and wildcards, as sent to the worker.
    full_prompt: list[str] = []
    full_negative_prompt: list[str] = []
    prompt_expansion: str = ""
    freeu: tuple[float, float, float, float] | None = None
    metadata_scheme: str = "fooocus"
    version: str = "remgo"
    # Fooocus's forced refiner switch (logged only with a refiner and when > 0).
    overwrite_switch: float | None = None
    # Fooocus's `metadata_created_by` setting: logged as `created_by` / a1111 `User` when set.
    created_by: str | None = None
    input: InputUse | None = None  # None: text to image
    image_prompts: list[PromptUse] = []
