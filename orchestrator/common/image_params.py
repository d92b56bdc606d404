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
    # AUTOMATIC1111's inpainting steps (inpaint_a1111), as its infotext says them; None: not said
    mask_blur: int | None = None  # the blur, when the same across and down and not 0
    inpaint_area: str | None = None  # "Only masked" (the whole picture is not said)
    masked_area_padding: int | None = None  # only masked
    masked_content: str | None = None  # "fill", "latent noise", "latent nothing" ("original" is not said)


class PromptUse(msgspec.Struct, frozen=True, kw_only=True):
    """One image prompt an image was made with."""

    type: str  # Fooocus's name: "ImagePrompt", "FaceSwap", "PyraCanny", "CPDS"
    stop: float
    weight: float
    image_sha256: str
    history_id: str | None = None  # when the image was one of the history


class HiresUse(msgspec.Struct, frozen=True, kw_only=True):
    """Hires fix's second pass an image was made with (the image's `width` × `height` is the first pass)."""

    width: int  # the final image's size
    height: int
    upscaler: str  # A1111's name: "Latent", "Latent (bicubic)", "Lanczos", …
    steps: int  # as asked: 0 means the first pass's steps
    denoise: float
    scale: float | None = None  # the first pass's size × scale, when no resize was given
    resize: tuple[int, int] | None = None  # A1111's hr_resize_x, hr_resize_y (0: from the other side)


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
    tiling: bool = False  # AUTOMATIC1111's seamless tiling
    hires: HiresUse | None = None  # None: no hires fix
    unet_timestep: str = "nearest"  # or "interpolated" (contract.task.UnetTimestep)
    variation: tuple[int, float] | None = None  # AUTOMATIC1111's (variation seed, strength); None: off
