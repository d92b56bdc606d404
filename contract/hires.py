"""Hires fix, as AUTOMATIC1111 runs it: a text-to-image first pass, its latent upscaled, then a second pass
that denoises the upscaled latent part way (an img2img of it) at the larger size.

`HiresFixRequest` is what a client asks for (contract/request.py's `hires_fix`); `HiresFix` is what the
worker reads (contract/task.py's `hires`): the sizes already worked out by the orchestrator.
"""

from __future__ import annotations

import enum
from typing import Annotated

import msgspec

from contract.prompt_schedule import MAX_ENTRIES, PromptScheduleEntry, ScheduledPrompt, schedule_problem


class HiresUpscaler(str, enum.Enum):
    """A1111's upscaler names for the hires pass that need no super-resolution model.

    The `Latent …` ones interpolate the latent (torch's modes); the others decode it, resize the picture and
    encode it again (`None` is a plain Lanczos resize, as in A1111)."""

    latent = "Latent"
    latent_antialiased = "Latent (antialiased)"
    latent_bicubic = "Latent (bicubic)"
    latent_bicubic_antialiased = "Latent (bicubic antialiased)"
    latent_nearest = "Latent (nearest)"
    latent_nearest_exact = "Latent (nearest-exact)"
    none = "None"
    lanczos = "Lanczos"
    nearest = "Nearest"

    @property
    def in_latent_space(self) -> bool:
        return self.value.startswith("Latent")


HiresSteps = Annotated[int, msgspec.Meta(ge=0, le=200)]
Denoise = Annotated[float, msgspec.Meta(gt=0.0, le=1.0)]
# The final size is a text-to-image size; the size before the centred crop may be larger.
FinalSide = Annotated[int, msgspec.Meta(ge=64, le=4096, multiple_of=8)]
UpscaledSide = Annotated[int, msgspec.Meta(ge=64, le=8192, multiple_of=8)]


class HiresFixRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The second pass a client asks for. The target is `resize_width` × `resize_height` when either is given
    (one alone keeps the first pass's aspect; both, a different aspect, cover then crop the centre), else
    the first pass's size × `scale`, truncated to whole pixels, then down to multiples of 8 (A1111's rules)."""

    scale: Annotated[float, msgspec.Meta(ge=1.0, le=4.0)] = 2.0
    resize_width: Annotated[int, msgspec.Meta(ge=0, le=4096)] = 0  # 0: not given
    resize_height: Annotated[int, msgspec.Meta(ge=0, le=4096)] = 0
    upscaler: HiresUpscaler = HiresUpscaler.latent
    steps: HiresSteps = 0  # 0: the first pass's steps
    denoise: Denoise = 0.7  # A1111's hires default
    # The second pass's own per-step conditioning schedule (contract/prompt_schedule.py), its `until_step`s over the
    # second pass's steps, counted from its first: AUTOMATIC1111 schedules its hires pass anew. None: the first
    # pass's prompts (the first entry's of a first-pass schedule is refused: give this instead).
    prompt_schedule: Annotated[list[PromptScheduleEntry], msgspec.Meta(min_length=1, max_length=MAX_ENTRIES)] | (
        None) = None

    def sizes(self, width: int, height: int) -> tuple[tuple[int, int], tuple[int, int]]:
        """((upscaled width, height), (final width, height)) for a width × height first pass, in pixels.

        A1111's target (`hr_upscale_to_x/y`) may be any number of pixels; its latent has target // 8 cells
        a side, and a target of another aspect than the first pass loses (target − asked) // 8 cells to
        the centred crop. The final image is that many cells × 8."""
        rx, ry = self.resize_width, self.resize_height
        cut_x = cut_y = 0
        if rx == 0 and ry == 0:
            to_x, to_y = int(width * self.scale), int(height * self.scale)
        elif ry == 0:
            to_x, to_y = rx, rx * height // width
        elif rx == 0:
            to_x, to_y = ry * width // height, ry
        else:  # cover rx × ry at the first pass's aspect, then crop
            if width / height < rx / ry:
                to_x, to_y = rx, rx * height // width
            else:
                to_x, to_y = ry * width // height, ry
            cut_x, cut_y = (to_x - rx) // 8, (to_y - ry) // 8
        cells_x, cells_y = to_x // 8, to_y // 8
        return (cells_x * 8, cells_y * 8), ((cells_x - cut_x) * 8, (cells_y - cut_y) * 8)


class HiresFix(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The worker's second pass. The first pass runs at the task's width × height; its latent is upscaled to
    `upscaled_width` × `upscaled_height`, cut to `width` × `height` about its centre (the same size unless
    the target's aspect differs) and denoised at `denoise` for `steps` steps with fresh noise of the image's
    seed; that latent is the image."""

    width: FinalSide
    height: FinalSide
    upscaled_width: UpscaledSide
    upscaled_height: UpscaledSide
    upscaler: HiresUpscaler
    steps: Annotated[int, msgspec.Meta(ge=1, le=200)]
    denoise: Denoise
    # The second pass's per-step conditioning schedule over its `steps`, counted from its first step; unset
    # (never sent): the task's `positive`/`negative` at every step.
    prompt_schedule: Annotated[list[ScheduledPrompt], msgspec.Meta(min_length=1, max_length=MAX_ENTRIES)] | (
        msgspec.UnsetType) = msgspec.UNSET

    def __post_init__(self) -> None:
        if self.upscaled_width < self.width or self.upscaled_height < self.height:
            raise ValueError(f"Expected the upscaled size to cover {self.width}×{self.height}, got "
                             f"{self.upscaled_width}×{self.upscaled_height} - at `$.hires.upscaled_width`")
        if self.prompt_schedule is not msgspec.UNSET and (
                problem := schedule_problem([e.until_step for e in self.prompt_schedule], self.steps)):
            raise ValueError(f"{problem} - at `$.hires.prompt_schedule`")

    def schedule(self) -> list[ScheduledPrompt] | None:
        """The second pass's conditioning schedule, None when the task's prompts act at every step."""
        return None if self.prompt_schedule is msgspec.UNSET else list(self.prompt_schedule)

    def crop(self) -> tuple[int, int]:
        """(left, top) of the kept region in latent cells (of 8 pixels): A1111 drops the odd cell at the end."""
        return (self.upscaled_width - self.width) // 16, (self.upscaled_height - self.height) // 16
