"""Fixed tables: SDXL aspect ratios, the performance modes, and the built-in (settings) defaults.

The built-in defaults are Fooocus's: they apply when neither the request nor the preset sets a value.
"""

from __future__ import annotations

import math
import re

import msgspec

from contract.request import MetadataScheme, OutpaintDirection, Performance, UovMethod
from contract.task import MAX_SEED, OutputFormat, RefinerSwapMethod, Sampler, Scheduler, UnetTimestep

# The 26 sizes SDXL was trained on, tallest first (width, height).
SDXL_SIZES: tuple[tuple[int, int], ...] = (
    (704, 1408), (704, 1344), (768, 1344), (768, 1280), (832, 1216), (832, 1152),
    (896, 1152), (896, 1088), (960, 1088), (960, 1024), (1024, 1024), (1024, 960),
    (1088, 960), (1088, 896), (1152, 896), (1152, 832), (1216, 832), (1280, 768),
    (1344, 768), (1344, 704), (1408, 704), (1472, 704), (1536, 640), (1600, 640),
    (1664, 576), (1728, 576),
)  # fmt: skip

# Custom sizes (any `W*H`, overwrite_width/height) must be multiples of 8 within these bounds.
MIN_SIDE = 256
MAX_SIDE = 4096
MAX_IMAGE_NUMBER = 32

# "1152*896", "1152×896", "1152x896", "1152 x 896"; Fooocus's UI labels add text after the size.
_SIZE_RE = re.compile(r"^\s*(\d{1,5})\s*[*×xX]\s*(\d{1,5})(?:\s|$|<|\|)")


def aspect_label(width: int, height: int) -> str:
    return f"{width}×{height}"


def aspect_value(width: int, height: int) -> str:
    return f"{width}*{height}"


def parse_size(text: str) -> tuple[int, int] | None:
    """`W*H` (or × / x) → (W, H); None when the text is not a size at all."""
    m = _SIZE_RE.match(text + " ")
    if not m:
        return None
    return int(m.group(1)), int(m.group(2))


def size_problem(width: int, height: int) -> str | None:
    """Why a custom size cannot be used, or None when it can."""
    for side, value in (("width", width), ("height", height)):
        if not MIN_SIDE <= value <= MAX_SIDE:
            return f"{side} {value} is outside {MIN_SIDE}…{MAX_SIDE}"
        if value % 8:
            return f"{side} {value} is not a multiple of 8"
    return None


def aspect_ratios() -> list[dict]:
    out = []
    for w, h in SDXL_SIZES:
        g = math.gcd(w, h)
        out.append({"value": aspect_value(w, h), "label": aspect_label(w, h), "width": w, "height": h,
                    "ratio": f"{w // g}:{h // g}"})
    return out


class PerformanceMode(msgspec.Struct, frozen=True, kw_only=True):
    """A performance mode's step count and, for the fast modes, everything it forces."""

    name: str
    steps: int
    upscale_steps: int  # Fooocus's step count for Upscale (1.5x / 2x), which runs at denoise 0.382
    sampler: str | None = None
    scheduler: str | None = None
    lora: str | None = None  # file name expected in a loras folder
    lora_weight: float = 1.0

    @property
    def fast(self) -> bool:
        return self.lora is not None


# Values a fast mode forces (on top of its sampler, scheduler and LoRA); the refiner is dropped.
FAST_MODE_FORCED = {
    "guidance_scale": 1.0,
    "image_sharpness": 0.0,
    "adaptive_cfg": 1.0,
    "adm_scaler_positive": 1.0,
    "adm_scaler_negative": 1.0,
    "adm_scaler_end": 0.0,
    "refiner_switch": 1.0,
}

PERFORMANCE: dict[Performance, PerformanceMode] = {
    Performance.quality: PerformanceMode(name="Quality", steps=60, upscale_steps=36),
    Performance.speed: PerformanceMode(name="Speed", steps=30, upscale_steps=18),
    Performance.extreme_speed: PerformanceMode(
        name="Extreme Speed", steps=8, upscale_steps=8, sampler=Sampler.lcm.value, scheduler=Scheduler.lcm.value,
        lora="sdxl_lcm_lora.safetensors"),
    Performance.lightning: PerformanceMode(
        name="Lightning", steps=4, upscale_steps=4, sampler=Sampler.euler.value, scheduler=Scheduler.sgm_uniform.value,
        lora="sdxl_lightning_4step_lora.safetensors"),
    Performance.hyper_sd: PerformanceMode(
        name="Hyper-SD", steps=4, upscale_steps=4, sampler=Sampler.dpmpp_sde_gpu.value, scheduler=Scheduler.karras.value,
        lora="sdxl_hyper_sd_4step_lora.safetensors", lora_weight=0.8),
}  # fmt: skip


def performance_table() -> list[dict]:
    rows = []
    for mode in PERFORMANCE.values():
        row = msgspec.to_builtins(mode)
        if mode.fast:
            row["forces"] = dict(FAST_MODE_FORCED)
        rows.append(row)
    return rows


class BuiltinDefaults(msgspec.Struct, frozen=True, kw_only=True):
    """The last word when neither request nor preset says: Fooocus's own defaults."""

    negative_prompt: str = ""
    style_selections: tuple[str, ...] = ("Fooocus V2", "Fooocus Enhance", "Fooocus Sharp")
    performance_selection: Performance = Performance.speed
    aspect_ratios_selection: str = "1152*896"
    image_number: int = 2
    image_sharpness: float = 2.0
    guidance_scale: float = 4.0
    refiner_switch: float = 0.5
    sampler_name: str = Sampler.dpmpp_2m_sde_gpu.value
    scheduler_name: str = Scheduler.karras.value
    output_format: OutputFormat = OutputFormat.png
    clip_skip: int = 2
    adaptive_cfg: float = 7.0
    adm_scaler_positive: float = 1.5
    adm_scaler_negative: float = 0.8
    adm_scaler_end: float = 0.3
    refiner_swap_method: RefinerSwapMethod = RefinerSwapMethod.joint
    freeu_enabled: bool = False
    freeu_b1: float = 1.01
    freeu_b2: float = 1.02
    freeu_s1: float = 0.99
    freeu_s2: float = 0.95
    disable_seed_increment: bool = False
    disable_preview: bool = False
    save_metadata_to_images: bool = True
    metadata_scheme: MetadataScheme = MetadataScheme.fooocus
    read_wildcards_in_order: bool = False
    # Input image (Fooocus's defaults; the strengths' -1 means "the method's own").
    uov_method: UovMethod = UovMethod.disabled
    upscale_fallback: bool = False
    overwrite_vary_strength: float = -1.0
    overwrite_upscale_strength: float = -1.0
    inpaint_additional_prompt: str = ""
    outpaint_selections: tuple[OutpaintDirection, ...] = ()
    inpaint_strength: float = 1.0
    inpaint_respective_field: float = 0.618
    inpaint_erode_or_dilate: int = 0
    invert_mask_checkbox: bool = False
    inpaint_disable_initial_latent: bool = False
    # Fooocus's head + v2.6 patch; without its files in an inpaint folder the checkpoint inpaints as it is.
    inpaint_engine: str = "v2.6"
    # Image prompts' shared knobs (Fooocus's advanced Control settings).
    controlnet_softness: float = 0.25
    canny_low_threshold: int = 64
    canny_high_threshold: int = 128
    skipping_cn_preprocessor: bool = False
    debugging_cn_preprocessor: bool = False
    tiling: bool = False  # AUTOMATIC1111's seamless tiling
    unet_timestep: UnetTimestep = UnetTimestep.nearest  # Fooocus's; AUTOMATIC1111's is interpolated
    variation_seed: int = -1  # AUTOMATIC1111's variation seeds: off at strength 0
    variation_strength: float = 0.0


BUILTIN = BuiltinDefaults()

LIMITS = {
    "image_number_max": MAX_IMAGE_NUMBER,
    "min_side": MIN_SIDE,
    "max_side": MAX_SIDE,
    "seed_max": MAX_SEED,
}
