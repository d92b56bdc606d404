"""Image inputs of a task: Vary, Upscale and Inpaint (Outpaint is Inpaint with padding), as typed methods.

Images travel inside the task as the bytes of their file (PNG, JPEG or WebP; base64 in JSON), so a worker
stays stateless and may run on another machine. The orchestrator has read each image's header and decided
the output size (the task's `width` × `height`); the worker makes exactly that size. Every pixel operation
(resizing, padding, mask processing) is the worker's: the orchestrator never decodes pixels.
"""

from __future__ import annotations

import enum
from typing import Annotated, Union

import msgspec

from contract.model_ref import ModelRef

# One input file at most this large (an 8192×8192 PNG of noise is ~200 MB; real photos are far smaller).
MAX_INPUT_BYTES = 64 * 2**20
# Sides and pixel count of an input image a worker accepts (a decompression bomb is refused before decoding).
MAX_INPUT_SIDE = 8192
MAX_INPUT_PIXELS = 8192 * 8192

Side = Annotated[int, msgspec.Meta(ge=1, le=MAX_INPUT_SIDE)]
Denoise = Annotated[float, msgspec.Meta(gt=0.0, le=1.0)]
Sha256 = Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{64}$")]


class InputImage(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """An image file as the user gave it. `width`/`height` are what its header says (the worker checks);
    `sha256` is of `data`. The orchestrator's job record keeps the task with `data` empty and puts the
    bytes back (from its input store, by `sha256`) when it sends the task; a worker refuses empty data."""

    data: Annotated[bytes, msgspec.Meta(max_length=MAX_INPUT_BYTES)]
    sha256: Sha256
    width: Side
    height: Side


class Vary(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag="vary", tag_field="method"):
    """img2img: `image` resized (Lanczos) to the task's width × height, encoded, noised to the level of
    `denoise` and sampled for exactly the task's `steps` (Fooocus runs the last `steps` of a schedule of
    int(steps / denoise) steps, not fewer steps as diffusers' `strength` does)."""

    image: InputImage
    denoise: Denoise


class Upscale(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag="upscale",
              tag_field="method"):
    """`image` super-resolved by `upscaler` (None: a Lanczos resize, which the user asked for), resampled
    to the task's width × height; then, when `denoise` is set, img2img at that denoise with tiled VAE
    encode/decode. `denoise` None: the resampled image is the result (no diffusion at all; the task's
    `steps` is then 1 and counts the resize)."""

    image: InputImage
    upscaler: ModelRef | None = None
    denoise: Denoise | None = None


class Padding(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Pixels added on each side (Outpaint): filled by repeating the edge, and all masked for repainting."""

    left: Annotated[int, msgspec.Meta(ge=0, le=MAX_INPUT_SIDE)] = 0
    top: Annotated[int, msgspec.Meta(ge=0, le=MAX_INPUT_SIDE)] = 0
    right: Annotated[int, msgspec.Meta(ge=0, le=MAX_INPUT_SIDE)] = 0
    bottom: Annotated[int, msgspec.Meta(ge=0, le=MAX_INPUT_SIDE)] = 0


class InpaintEngine(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Fooocus's inpaint engine: an inpaint head (`fooocus_inpaint_head.pth`) and the patch for the base
    UNet (`inpaint_v26.fooocus.patch`, or v1 / v2.5). As in Fooocus, a task without a refiner then ends on a
    "synthetic refiner" — the base without head and patch — from round(steps × 0.8) on."""

    version: Annotated[str, msgspec.Meta(pattern="^(v1|v2\\.5|v2\\.6)$")]
    head: ModelRef
    patch: ModelRef


class MaskedContent(str, enum.Enum):
    """AUTOMATIC1111's `inpainting_fill`: what the masked area starts from (0 … 3 there, in this order)."""

    fill = "fill"  # the image with the masked area blurred in from its surroundings
    original = "original"  # the image as it is
    latent_noise = "latent noise"  # the fill's latent, unit noise (of the task's first seed) inside the mask
    latent_nothing = "latent nothing"  # the fill's latent, zero inside the mask


MAX_MASK_BLUR = 256
WorkSide = Annotated[int, msgspec.Meta(ge=64, le=MAX_INPUT_SIDE, multiple_of=8)]


class A1111Inpaint(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """AUTOMATIC1111's img2img inpainting steps, in place of Fooocus's crop, fill and feathered blend.

    The mask (grey levels kept; an RGBA mask's alpha, thresholded at 128 when `round_mask`), inverted if
    the Inpaint asks, is blurred by a horizontal then a vertical Gaussian (sigma `blur_x` / `blur_y`, kernel
    2·int(2.5·sigma + 0.5) + 1, OpenCV's border). `only_masked`: the box of the blurred mask's non-zero
    pixels, widened by `padding` and grown to the aspect of `width` × `height` (clamped to the image), is
    cut out, resized to `width` × `height` ("resize and fill") and sampled; the result is resized back
    ("crop and resize") into the box. Otherwise the whole image is sampled at its own size (`width` ×
    `height` must be it). `content` other than original fills the masked area first (blurred in from
    around it); the latent mask is the (cropped, resized) blurred mask brought to latent size (bicubic),
    rounded to 0/1 when `round_mask`; the estimate of every step and the final latent are held to the
    start latent outside it. Last, the original image is laid over the result through the blurred mask
    (doubled for the whole picture), so every pixel where that mask is 0 is the input's, bit for bit."""

    blur_x: Annotated[int, msgspec.Meta(ge=0, le=MAX_MASK_BLUR)]
    blur_y: Annotated[int, msgspec.Meta(ge=0, le=MAX_MASK_BLUR)]
    content: MaskedContent
    only_masked: bool
    padding: Annotated[int, msgspec.Meta(ge=0, le=MAX_INPUT_SIDE)]
    round_mask: bool
    width: WorkSide  # the size sampled at: the box's resize (only_masked), else the image's own size
    height: WorkSide


class Inpaint(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag="inpaint",
              tag_field="method"):
    """Repaint where `mask` is white (after `invert_mask`), leaving the rest of `image` as it was.

    `image` is first padded by `padding` (Outpaint). The area around the mask — grown until it covers
    `respective_field` of the image's height and width (1.0: the whole image) — is cropped, resized to
    SDXL's working size, sampled at `denoise` and put back, blended through the mask (eroded < 0 or
    dilated > 0 by `erode_or_dilate` pixels first, then feathered). `disable_initial_latent`: sample from
    pure noise instead of the filled image. `engine`: Fooocus's head + patch (None: the checkpoint as it
    is, or its own 9-channel inpainting UNet). The output is the padded image's size: the task's width ×
    height."""

    image: InputImage
    mask: InputImage | None = None  # None: nothing inside the image is masked (Outpaint alone)
    denoise: Denoise = 1.0
    respective_field: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)] = 0.618
    erode_or_dilate: Annotated[int, msgspec.Meta(ge=-64, le=64)] = 0
    invert_mask: bool = False
    disable_initial_latent: bool = False
    padding: Padding = Padding()
    engine: InpaintEngine | None = None
    # AUTOMATIC1111's steps instead of Fooocus's (unset, never sent: Fooocus's); they need a mask and leave
    # respective_field 1.0, erode_or_dilate 0, disable_initial_latent false, no padding and no engine.
    a1111: A1111Inpaint | msgspec.UnsetType = msgspec.UNSET

    def __post_init__(self) -> None:
        if self.a1111 is not msgspec.UNSET:
            self._check_a1111(self.a1111)
        if self.mask is None:
            if not any(msgspec.structs.astuple(self.padding)):
                raise ValueError("without a mask, padding must add something to repaint")
        elif (self.mask.width, self.mask.height) != (self.image.width, self.image.height):
            raise ValueError(
                f"the mask is {self.mask.width}×{self.mask.height} but the image is "
                f"{self.image.width}×{self.image.height}: they must be the same size"
            )

    def _check_a1111(self, steps: A1111Inpaint) -> None:
        if self.mask is None:
            raise ValueError("a1111: AUTOMATIC1111's inpainting needs a mask")
        fooocus_only = {"respective_field": self.respective_field != 1.0, "erode_or_dilate": self.erode_or_dilate != 0,
                        "disable_initial_latent": self.disable_initial_latent, "engine": self.engine is not None,
                        "padding": any(msgspec.structs.astuple(self.padding))}
        for name, set_ in fooocus_only.items():
            if set_:
                raise ValueError(f"a1111: {name} is Fooocus's; with AUTOMATIC1111's steps leave it neutral")
        if not steps.only_masked and (steps.width, steps.height) != (self.image.width, self.image.height):
            raise ValueError(f"a1111: the whole picture is sampled at its own size, {self.image.width}×"
                             f"{self.image.height}; width × height is {steps.width}×{steps.height}")

    def output_size(self) -> tuple[int, int]:
        p = self.padding
        return self.image.width + p.left + p.right, self.image.height + p.top + p.bottom


ImageInput = Union[Vary, Upscale, Inpaint]
