"""The unit of work a worker runs: one fully expanded GenerateTask.

The orchestrator resolves every default, style, preset and seed before a task is built, so a worker
reads these fields literally. Neutral values (FreeU off, ADM scalers 1/1/0, sharpness 0 …) change nothing.
"""

from __future__ import annotations

import enum
from typing import Annotated

import msgspec

from contract.a1111_timesteps import a1111_timesteps
from contract.hires import HiresFix
from contract.image_input import ImageInput, Inpaint, Vary
from contract.image_prompt import MAX_IMAGE_PROMPTS, ControlSettings, ImagePrompt
from contract.model_ref import ModelRef
from contract.prompt_schedule import MAX_ENTRIES, ScheduledPrompt, schedule_problem

CONTRACT_VERSION = 2

# Seeds are Fooocus's range: 0 … 2**63 - 1.
MAX_SEED = 2**63 - 1

Seed = Annotated[int, msgspec.Meta(ge=0, le=MAX_SEED)]
# A text-to-image size; an image input's output may be any size its method gives (OutputSide), see __post_init__.
Dimension = Annotated[int, msgspec.Meta(ge=64, le=4096, multiple_of=8)]
OutputSide = Annotated[int, msgspec.Meta(ge=64, le=8192)]


def schedules_with(method: ImageInput) -> bool:
    """Whether a prompt schedule may go with this image input: AUTOMATIC1111's img2img, which counts its steps
    from the first one it runs (Vary, and Inpaint with `a1111`)."""
    return isinstance(method, Vary) or (isinstance(method, Inpaint) and method.a1111 is not msgspec.UNSET)


class Sampler(str, enum.Enum):
    """Fooocus's sampler names, then AUTOMATIC1111's `plms`. Which of them a kernel runs is the kernel's to say."""

    euler = "euler"
    euler_ancestral = "euler_ancestral"
    heun = "heun"
    heunpp2 = "heunpp2"
    dpm_2 = "dpm_2"
    dpm_2_ancestral = "dpm_2_ancestral"
    lms = "lms"
    dpm_fast = "dpm_fast"
    dpm_adaptive = "dpm_adaptive"
    dpmpp_2s_ancestral = "dpmpp_2s_ancestral"
    dpmpp_sde = "dpmpp_sde"
    dpmpp_sde_gpu = "dpmpp_sde_gpu"
    dpmpp_2m = "dpmpp_2m"
    dpmpp_2m_sde = "dpmpp_2m_sde"
    dpmpp_2m_sde_gpu = "dpmpp_2m_sde_gpu"
    dpmpp_3m_sde = "dpmpp_3m_sde"
    dpmpp_3m_sde_gpu = "dpmpp_3m_sde_gpu"
    ddpm = "ddpm"
    lcm = "lcm"
    tcd = "tcd"
    restart = "restart"
    ddim = "ddim"
    uni_pc = "uni_pc"
    uni_pc_bh2 = "uni_pc_bh2"
    # AUTOMATIC1111's PLMS, on its DDIM timesteps (`a1111_ddim`) only: not one of Fooocus's.
    plms = "plms"


class Scheduler(str, enum.Enum):
    """Fooocus's scheduler (sigma schedule) names, then AUTOMATIC1111's own timestep spacings: `a1111_ddim`, the
    timesteps its DDIM runs on (every 1000 // steps-th from 1), and `a1111_unipc`, the times its UniPC runs on
    (evenly from timestep 999 to 0, one more level than DDIM's). Both start from unit noise in the
    variance-preserving form and stop above zero (worker-contract.md)."""

    normal = "normal"
    karras = "karras"
    exponential = "exponential"
    sgm_uniform = "sgm_uniform"
    simple = "simple"
    ddim_uniform = "ddim_uniform"
    lcm = "lcm"
    turbo = "turbo"
    align_your_steps = "align_your_steps"
    tcd = "tcd"
    edm_playground_v2_5 = "edm_playground_v2.5"
    a1111_ddim = "a1111_ddim"
    a1111_unipc = "a1111_unipc"


class UnetTimestep(str, enum.Enum):
    """The timestep the UNet is conditioned on at a noise level between two training timesteps: the `nearest`
    whole one (Fooocus, ComfyUI) or the `interpolated` fractional one (AUTOMATIC1111 without its quantization
    option, diffusers' Karras schedules)."""

    nearest = "nearest"
    interpolated = "interpolated"


class Variation(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """AUTOMATIC1111's variation seeds: image i's starting noise is its seed's, spherically interpolated towards
    the noise of `seeds[i]` by `strength` (1: that seed's noise alone); the samplers' fresh noise stays its own
    seed's (worker-contract.md)."""

    seeds: Annotated[list[Seed], msgspec.Meta(min_length=1, max_length=64)]  # one per task seed
    strength: Annotated[float, msgspec.Meta(gt=0.0, le=1.0)]


class OutputFormat(str, enum.Enum):
    png = "png"
    jpeg = "jpeg"
    webp = "webp"


class RefinerSwapMethod(str, enum.Enum):
    joint = "joint"
    separate = "separate"
    vae = "vae"


class LoraSpec(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    path: str
    weight: Annotated[float, msgspec.Meta(ge=-2.0, le=2.0)] = 1.0


class AdmScalers(msgspec.Struct, frozen=True, kw_only=True):
    """SDXL size conditioning: original size = output × positive / × negative until `end` of the schedule.

    Neutral (no effect): positive=1.0, negative=1.0, end=0.0.
    """

    positive: Annotated[float, msgspec.Meta(ge=0.1, le=3.0)] = 1.5
    negative: Annotated[float, msgspec.Meta(ge=0.1, le=3.0)] = 0.8
    end: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)] = 0.3


class FreeU(msgspec.Struct, frozen=True, kw_only=True):
    enabled: bool = False
    b1: Annotated[float, msgspec.Meta(ge=0.0, le=3.0)] = 1.01
    b2: Annotated[float, msgspec.Meta(ge=0.0, le=3.0)] = 1.02
    s1: Annotated[float, msgspec.Meta(ge=0.0, le=3.0)] = 0.99
    s2: Annotated[float, msgspec.Meta(ge=0.0, le=3.0)] = 0.95


class PreviewSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Small JPEG previews of the current x0 carried in progress notifications."""

    enabled: bool = True
    every_n_steps: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 1
    max_side: Annotated[int, msgspec.Meta(ge=16, le=1024)] = 256
    quality: Annotated[int, msgspec.Meta(ge=1, le=100)] = 75


class GenerateTask(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Everything a worker needs to make `len(seeds)` images; nothing is left to defaults on its side."""

    task_id: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    base_model: ModelRef
    width: OutputSide  # the output image's size: a Dimension unless `image_input` says otherwise
    height: OutputSide
    seeds: Annotated[list[Seed], msgspec.Meta(min_length=1, max_length=64)]
    # Prompt chunks after styles; the kernel encodes each chunk and concatenates them.
    positive: list[str] = []
    negative: list[str] = []
    steps: Annotated[int, msgspec.Meta(ge=1, le=200)] = 30
    sampler: Sampler = Sampler.dpmpp_2m_sde_gpu
    scheduler: Scheduler = Scheduler.karras
    guidance_scale: Annotated[float, msgspec.Meta(ge=1.0, le=30.0)] = 4.0
    sharpness: Annotated[float, msgspec.Meta(ge=0.0, le=30.0)] = 0.0
    adaptive_cfg: Annotated[float, msgspec.Meta(ge=1.0, le=30.0)] = 7.0
    adm: AdmScalers = AdmScalers(positive=1.0, negative=1.0, end=0.0)
    clip_skip: Annotated[int, msgspec.Meta(ge=1, le=12)] = 2
    loras: list[LoraSpec] = []
    # Textual-inversion files the prompts may name as `embedding:<name>` (the catalog name or its stem).
    embeddings: list[ModelRef] = []
    vae: ModelRef | None = None
    refiner: ModelRef | None = None
    refiner_switch: Annotated[float, msgspec.Meta(ge=0.1, le=1.0)] = 0.8
    refiner_swap_method: RefinerSwapMethod = RefinerSwapMethod.joint
    freeu: FreeU = FreeU()
    output_format: OutputFormat = OutputFormat.png
    # One key → text mapping per image (empty list: embed nothing), e.g. {"parameters": "...", "fooocus_scheme": "fooocus"}.
    image_metadata: list[dict[str, str]] = []
    preview: PreviewSettings = PreviewSettings()
    # Vary / Upscale / Inpaint an input image (contract.image_input); unset (never sent): text to image, so a
    # text-to-image task reads the same as before the field existed.
    image_input: ImageInput | msgspec.UnsetType = msgspec.UNSET
    # Up to four image prompts (contract.image_prompt) and their shared knobs; unset (never sent): none.
    image_prompts: Annotated[list[ImagePrompt], msgspec.Meta(min_length=1, max_length=MAX_IMAGE_PROMPTS)] | (
        msgspec.UnsetType) = msgspec.UNSET
    control: ControlSettings | msgspec.UnsetType = msgspec.UNSET
    # AUTOMATIC1111's seamless tiling: sent only when true (unset: off), so other tasks read as before it existed.
    tiling: bool | msgspec.UnsetType = msgspec.UNSET
    # Hires fix's second pass (contract.hires); unset (never sent): none. width × height stay the first pass's.
    hires: HiresFix | msgspec.UnsetType = msgspec.UNSET
    # A per-step conditioning schedule (contract.prompt_schedule: AUTOMATIC1111's prompt editing and
    # alternation); unset (never sent): `positive`/`negative` at every step. When set, `positive`/`negative`
    # are its first entry's. Text to image (with hires fix when `hires.prompt_schedule` is set too), Vary or an
    # `a1111` Inpaint, with a `joint` refiner or none; entries count the steps the sampler runs, from 0.
    prompt_schedule: Annotated[list[ScheduledPrompt], msgspec.Meta(min_length=1, max_length=MAX_ENTRIES)] | (
        msgspec.UnsetType) = msgspec.UNSET
    # Variation seeds (AUTOMATIC1111's subseeds); unset (never sent): each image's noise is its seed's alone.
    variation: Variation | msgspec.UnsetType = msgspec.UNSET
    # The UNet's timestep between training timesteps; sent only when `interpolated` (unset: `nearest`).
    unet_timestep: UnetTimestep | msgspec.UnsetType = msgspec.UNSET
    contract_version: int = CONTRACT_VERSION

    def __post_init__(self) -> None:
        if self.image_metadata and len(self.image_metadata) != len(self.seeds):
            raise ValueError("image_metadata must be empty or have one entry per seed")
        method = self.method()
        if method is not None and self.hires is not msgspec.UNSET:
            raise ValueError("Expected no hires fix with an image input (text to image only) - at `$.hires`")
        if method is None or isinstance(method, Vary):  # the UNet works at exactly this size
            for name, side in (("width", self.width), ("height", self.height)):
                if side % 8 or side > 4096:
                    # Worded as msgspec words a field's error, so receivers read the field's path from it.
                    raise ValueError(f"Expected a multiple of 8 and at most 4096, got {side} - at `$.{name}`")
        elif isinstance(method, Inpaint) and method.output_size() != (self.width, self.height):
            w, h = method.output_size()
            raise ValueError(f"Expected the padded input image's size {w}×{h}, got {self.width}×{self.height}"
                             " - at `$.width`")
        if self.prompt_schedule is not msgspec.UNSET:
            self._check_schedule(self.prompt_schedule)
        if self.variation is not msgspec.UNSET and len(self.variation.seeds) != len(self.seeds):
            raise ValueError("Expected one variation seed per seed - at `$.variation.seeds`")

    def _check_schedule(self, entries: list[ScheduledPrompt]) -> None:
        problem = schedule_problem([e.until_step for e in entries], self.steps)
        if problem is None and (entries[0].positive, entries[0].negative) != (self.positive, self.negative):
            problem = "positive and negative must be the schedule's first entry's"
        others = [name for name, unset in (
            ("image_input", self.image_input is msgspec.UNSET or schedules_with(self.image_input)),
            ("image_prompts", self.image_prompts is msgspec.UNSET),
            ("hires", self.hires is msgspec.UNSET or self.hires.prompt_schedule is not msgspec.UNSET),
            ("a refiner swapped otherwise than jointly",
             self.refiner is None or self.refiner_swap_method is RefinerSwapMethod.joint)) if not unset]
        if problem is None and others:
            problem = (f"a prompt schedule runs on text to image, Vary and AUTOMATIC1111's inpainting, with a joint "
                       f"refiner, and with hires fix when its second pass has its own, not with {others[0]}")
        if problem is not None:
            raise ValueError(f"{problem} - at `$.prompt_schedule`")

    def method(self) -> ImageInput | None:
        """The image input, None for text to image."""
        return None if self.image_input is msgspec.UNSET else self.image_input

    def prompts(self) -> list[ImagePrompt]:
        """The image prompts, [] when there are none."""
        return [] if self.image_prompts is msgspec.UNSET else list(self.image_prompts)

    def control_settings(self) -> ControlSettings:
        return ControlSettings() if self.control is msgspec.UNSET else self.control

    def seamless(self) -> bool:
        """Whether the task asks for seamless tiling (unset: no)."""
        return self.tiling is True

    def hires_fix(self) -> HiresFix | None:
        """The hires fix's second pass, None when there is none."""
        return None if self.hires is msgspec.UNSET else self.hires

    def schedule(self) -> list[ScheduledPrompt] | None:
        """The per-step conditioning schedule, None when `positive`/`negative` act at every step."""
        return None if self.prompt_schedule is msgspec.UNSET else list(self.prompt_schedule)

    def steps_total(self) -> int:
        """The model steps of one image, every pass counted: what its progress counts to. AUTOMATIC1111's DDIM
        timesteps are every (1000 // steps)-th below 1000: `a1111_ddim` steps between them, one fewer than
        there are (4 → 3, 7 → 7), `a1111_unipc` as many times as there are (4 → 4, 7 → 8)."""
        fix = self.hires_fix()
        first = self.steps
        if self.scheduler in (Scheduler.a1111_ddim, Scheduler.a1111_unipc):
            first = a1111_timesteps(self.steps) - (self.scheduler is Scheduler.a1111_ddim)
        return first + (fix.steps if fix is not None else 0)

    def one_image(self, index: int, **changes) -> GenerateTask:
        """The task for its image `index` alone (its seed, its variation seed), with `changes`."""
        if self.variation is not msgspec.UNSET:
            changes["variation"] = Variation(seeds=[self.variation.seeds[index]], strength=self.variation.strength)
        return msgspec.structs.replace(self, seeds=[self.seeds[index]], **changes)

    def variation_of(self, index: int) -> tuple[int, float] | None:
        """(variation seed, strength) of image `index`, None when it has none."""
        if self.variation is msgspec.UNSET:
            return None
        return self.variation.seeds[index], self.variation.strength

    def interpolated_timesteps(self) -> bool:
        return self.unet_timestep is UnetTimestep.interpolated

    def output_size(self) -> tuple[int, int]:
        """The size of the images the task makes."""
        fix = self.hires_fix()
        return (fix.width, fix.height) if fix is not None else (self.width, self.height)
