"""The input image of a request → the task's method (Vary, Upscale, Inpaint), its output size and steps.

Fooocus's rules, on the image's header alone (the orchestrator never decodes pixels; the worker does all
pixel work):
- Vary (Subtle) runs at denoise 0.5, Vary (Strong) at 0.85 (`overwrite_vary_strength` > 0 replaces it); the
  output keeps the input's shape with its "shape ceil" (ceil(sqrt(W·H) / 64) · 64) brought into 1024…2048,
  sides then multiples of 64 (an image already within the range keeps its size, floored to a multiple of 8).
- Upscale (1.5x / 2x / Custom): the output is the input × factor (a result whose shape ceil is under 1024 is
  brought up to 1024), then img2img at denoise 0.382 (`overwrite_upscale_strength`) with the performance's
  upscale step count; Fast 2x, and any result whose shape ceil is over 2800, is the resized image with no
  diffusion.
- Inpaint: the output is the input's size; Outpaint pads 30 % of the height (top, bottom), then of the width
  (left, right), and runs at strength 1.0 over the whole image (respective field 1.0). The additional inpaint
  prompt becomes the first prompt line. The inpaint engine (Fooocus's default v2.6) is its head and the
  version's patch from the catalog's `inpaint` folder, sent when the workers' kernel runs it, both files
  are there and the base's header says SDXL; otherwise a warning says why and the checkpoint inpaints as it
  is.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from contract.image_input import ImageInput, Inpaint, InpaintEngine, InputImage, Padding, Upscale, Vary
from contract.request import GenerateRequest, OutpaintDirection, UovMethod
from contract.task import ModelRef
from orchestrator.catalog import CatalogError, CatalogSnapshot, ModelKind
from orchestrator.catalog.preset_fit import NONE_NAMES
from orchestrator.catalog.tables import BUILTIN, PerformanceMode
from orchestrator.common.image_params import InputUse
from orchestrator.common.input_image import ResolvedImage
from orchestrator.normalize import inpaint_a1111
from orchestrator.normalize.errors import NormalizeError

IMAGE_FIELDS = ("uov_input_image", "inpaint_input_image", "inpaint_mask_image")
# Fooocus's file names (modules/config.py downloading_inpaint_models), in its models/inpaint folder.
ENGINE_HEAD = "fooocus_inpaint_head.pth"
ENGINE_PATCHES = {"v1": "inpaint.fooocus.patch", "v2.5": "inpaint_v25.fooocus.patch",
                  "v2.6": "inpaint_v26.fooocus.patch"}
VARY_DENOISE = {UovMethod.vary_subtle: 0.5, UovMethod.vary_strong: 0.85}
UPSCALE_FACTOR = {UovMethod.upscale_15: 1.5, UovMethod.upscale_2: 2.0, UovMethod.upscale_fast: 2.0}
UPSCALE_DENOISE = 0.382
DIFFUSION_CEIL_MAX = 2800  # above it Fooocus returns the super-resolved image as it is
OUTPAINT_SHARE = 0.3
MAX_OUTPUT_SIDE = 8192


@dataclass
class InputPlan:
    """What an input image makes of the job: the task's method (image bytes left empty: the dispatcher puts
    them back from the input store), the output size, the steps run and what the metadata records."""

    method: ImageInput
    width: int
    height: int
    steps: int
    use: InputUse
    prompt_first_line: str = ""  # Inpaint's additional prompt


def shape_ceil(width: float, height: float) -> int:
    return math.ceil(math.sqrt(width * height) / 64.0) * 64


def with_shape_ceil(width: int, height: int, target: int) -> tuple[int, int]:
    """Fooocus's resize to a shape ceil: scale both sides, rounding each to a multiple of 64, until it fits."""
    w, h = width, height
    for _ in range(256):
        current = shape_ceil(w, h)
        if current == target:
            break
        k = target / current
        w, h = int(round(w * k / 64.0) * 64), int(round(h * k / 64.0) * 64)
    return w, h


def _image(found: ResolvedImage) -> InputImage:
    return InputImage(data=b"", sha256=found.sha256, width=found.width, height=found.height)


def _strength(value: float | None, default: float) -> float:
    return value if value is not None and value > 0 else default  # Fooocus's -1 (and 0): the method's own


def plan_input(used: GenerateRequest, inputs: dict[str, ResolvedImage], snapshot: CatalogSnapshot,
               mode: PerformanceMode, steps: int, warn, runs: Callable[[str], bool] = lambda name: True,
               base_architecture: str | None = None, base_inpainting: bool = False) -> InputPlan | None:
    """The job's input-image plan, None for text to image. NormalizeError names the field at fault.
    `runs(name)`: whether the workers' kernel runs an image input ("vary", "upscale.upscaler", …);
    `base_architecture`: the base checkpoint's, as its header says (None: not known); `base_inpainting`: its
    UNet is an inpainting one (9 input channels)."""
    method = used.uov_method or UovMethod.disabled
    uov, inpaint, mask = (inputs.get(f) for f in IMAGE_FIELDS)
    if uov is not None and inpaint is not None:
        raise NormalizeError("inpaint_input_image", "give one input image at a time: uov_input_image "
                             "(Vary / Upscale) or inpaint_input_image (Inpaint / Outpaint)")
    if mask is not None and inpaint is None:
        raise NormalizeError("inpaint_mask_image", "a mask needs an inpaint_input_image to apply to")
    if used.inpaint_a1111 is not None and inpaint is None:
        raise NormalizeError("inpaint_a1111", "AUTOMATIC1111-style inpainting needs an inpaint_input_image")
    if inpaint is not None:
        if method is not UovMethod.disabled:
            raise NormalizeError("uov_method", f"{method.value} works on uov_input_image, not on "
                                 "inpaint_input_image; leave it Disabled to inpaint")
        _require(runs, "inpaint", "Inpaint and Outpaint", "inpaint_input_image")
        if used.inpaint_a1111 is not None:
            _require(runs, "inpaint.a1111", "AUTOMATIC1111-style inpainting", "inpaint_a1111")
            task_method, use = inpaint_a1111.plan(used, _image(inpaint), inpaint, mask and _image(mask),
                                                  mask and mask.sha256, warn)
            return InputPlan(task_method, inpaint.width, inpaint.height, steps, use,
                             prompt_first_line=used.inpaint_additional_prompt or "")
        engine = _engine(used, snapshot, warn, runs("inpaint.engine"), base_architecture, base_inpainting)
        return _inpaint(used, inpaint, mask, steps, warn, engine)
    if method is UovMethod.disabled:
        if uov is not None:
            raise NormalizeError("uov_method", "uov_input_image is given but uov_method is Disabled: choose "
                                 "Vary (Subtle), Vary (Strong) or an Upscale")
        return None
    if uov is None:
        raise NormalizeError("uov_input_image", f"{method.value} needs an input image")
    if method in VARY_DENOISE:
        _require(runs, "vary", method.value, "uov_method")
        return _vary(used, method, uov, steps)
    _require(runs, "upscale", method.value, "uov_method")
    return _upscale(used, method, uov, snapshot, mode, warn, runs("upscale.upscaler"))


def _require(runs: Callable[[str], bool], name: str, label: str, field: str) -> None:
    if not runs(name):
        raise NormalizeError(field, f"{label} is not run by the workers' kernel (it reports no {name!r} input)")


def _vary(used: GenerateRequest, method: UovMethod, image: ResolvedImage, steps: int) -> InputPlan:
    denoise = _strength(used.overwrite_vary_strength, VARY_DENOISE[method])
    ceil = shape_ceil(image.width, image.height)
    if 1024 <= ceil <= 2048:
        width, height = image.width // 8 * 8, image.height // 8 * 8
    else:
        width, height = with_shape_ceil(image.width, image.height, min(max(ceil, 1024), 2048))
    if not (64 <= width <= 4096 and 64 <= height <= 4096):
        raise NormalizeError("uov_input_image", f"a {image.width}×{image.height} image varies to {width}×{height}, "
                             "outside 64…4096: its aspect ratio is too extreme")
    use = InputUse(method=method.value, denoise=denoise, image_sha256=image.sha256, history_id=image.history_id)
    return InputPlan(Vary(image=_image(image), denoise=denoise), width, height, steps, use)


def _upscale(used: GenerateRequest, method: UovMethod, image: ResolvedImage, snapshot: CatalogSnapshot,
             mode: PerformanceMode, warn, super_resolution: bool) -> InputPlan:
    if method is UovMethod.upscale_custom:
        if used.upscale_value is None:
            raise NormalizeError("upscale_value", "Upscale (Custom) needs upscale_value, the factor (1…4)")
        factor = used.upscale_value
    else:
        factor = UPSCALE_FACTOR[method]
    width, height = int(image.width * factor), int(image.height * factor)
    ceil = shape_ceil(width, height)
    if ceil < 1024:
        width, height = with_shape_ceil(image.width, image.height, 1024)
        ceil = 1024
    if max(width, height) > MAX_OUTPUT_SIDE or min(width, height) < 64:
        raise NormalizeError("uov_input_image", f"{method.value} of a {image.width}×{image.height} image would "
                             f"be {width}×{height}; each side must be within 64…{MAX_OUTPUT_SIDE}")
    denoise: float | None = _strength(used.overwrite_upscale_strength, UPSCALE_DENOISE)
    if method is UovMethod.upscale_fast:
        denoise = None
    elif ceil > DIFFUSION_CEIL_MAX:
        warn(f"{method.value}: the {width}×{height} result is returned as upscaled, without diffusion "
             f"(Fooocus does so above a shape ceil of {DIFFUSION_CEIL_MAX})")
        denoise = None
    steps = used.overwrite_step if used.overwrite_step and used.overwrite_step > 0 else mode.upscale_steps
    upscaler = _upscaler(used, snapshot, warn, super_resolution)
    use = InputUse(method=method.value, denoise=denoise, image_sha256=image.sha256, history_id=image.history_id,
                   upscale_factor=factor, upscaler=upscaler.name if upscaler else "Lanczos")
    return InputPlan(Upscale(image=_image(image), upscaler=upscaler, denoise=denoise), width, height,
                     steps if denoise is not None else 1, use)  # no diffusion: one step, the resize


def _upscaler(used: GenerateRequest, snapshot: CatalogSnapshot, warn, super_resolution: bool) -> ModelRef | None:
    """The super-resolution model: the one named, else the first installed; None (Lanczos) only when asked."""
    models = snapshot.models[ModelKind.upscale]
    name = used.upscale_model
    if not super_resolution:
        if used.upscale_fallback:
            warn("the workers' kernel runs no super-resolution model: the image was enlarged with a Lanczos "
                 "resize (upscale_fallback)")
            return None
        raise NormalizeError("uov_method", "the workers' kernel runs no super-resolution model"
                             + (f" (installed: {', '.join(models)})" if models else "")
                             + "; set upscale_fallback to true for a plain Lanczos resize")
    if name is not None and name.strip() not in NONE_NAMES:
        try:
            found = snapshot.model(ModelKind.upscale, name, "upscale_model")
        except CatalogError as exc:
            raise NormalizeError("upscale_model", exc.message, exc.suggestions) from None
        return ModelRef(name=found.name, path=found.path)
    if models and name is None:
        first = next(iter(models.values()))
        return ModelRef(name=first.name, path=first.path)
    if used.upscale_fallback:
        warn("no super-resolution model used: the image was enlarged with a Lanczos resize (upscale_fallback)")
        return None
    if name is not None:
        raise NormalizeError("upscale_model", f"upscale_model {name!r} asks for no super-resolution model: "
                             "set upscale_fallback to true for a plain Lanczos resize")
    where = ", ".join(snapshot.folders[ModelKind.upscale]) or "an upscale_models folder of the models root"
    raise NormalizeError("uov_method", "no upscale model is installed: add an ESRGAN-family model (.pth or "
                         f".safetensors) to {where}, or set upscale_fallback to true for a plain Lanczos resize")

def _inpaint(used: GenerateRequest, image: ResolvedImage, mask: ResolvedImage | None, steps: int, warn,
             engine: InpaintEngine | None) -> InputPlan:
    directions = list(dict.fromkeys(used.outpaint_selections or ()))
    if mask is not None and (mask.width, mask.height) != (image.width, image.height):
        raise NormalizeError("inpaint_mask_image", f"the mask is {mask.width}×{mask.height} but the image is "
                             f"{image.width}×{image.height}: they must be the same size")
    if mask is None and not directions:
        raise NormalizeError("inpaint_mask_image", "inpainting needs a mask (white = repaint), or outpaint_"
                             "selections to extend the image")
    if mask is None:  # outpaint only: nothing inside the image is masked
        mask_image = None
    else:
        mask_image = _image(mask)
    h_pad = int(image.height * OUTPAINT_SHARE)
    w_pad = int(image.width * OUTPAINT_SHARE)
    padding = Padding(top=h_pad if OutpaintDirection.top in directions else 0,
                      bottom=h_pad if OutpaintDirection.bottom in directions else 0,
                      left=w_pad if OutpaintDirection.left in directions else 0,
                      right=w_pad if OutpaintDirection.right in directions else 0)
    strength, field = used.inpaint_strength, used.inpaint_respective_field
    if directions:
        for name, value in (("inpaint_strength", strength), ("inpaint_respective_field", field)):
            if value not in (1.0, getattr(BUILTIN, name)):  # one asked for, not the default Outpaint overrides
                warn(f"{name} is 1.0 for Outpaint (the request or preset asked for {value:g})")
        strength, field = 1.0, 1.0
    width, height = image.width + padding.left + padding.right, image.height + padding.top + padding.bottom
    if max(width, height) > MAX_OUTPUT_SIDE or min(width, height) < 64:
        raise NormalizeError("inpaint_input_image", f"a {image.width}×{image.height} image (padded: {width}×"
                             f"{height}) must have each side within 64…{MAX_OUTPUT_SIDE}")
    method = Inpaint(image=_image(image), mask=mask_image, denoise=strength, respective_field=field,
                     erode_or_dilate=used.inpaint_erode_or_dilate, invert_mask=used.invert_mask_checkbox,
                     disable_initial_latent=used.inpaint_disable_initial_latent, padding=padding, engine=engine)
    use = InputUse(method="Outpaint" if directions else "Inpaint", denoise=strength, image_sha256=image.sha256,
                   history_id=image.history_id, mask_sha256=mask.sha256 if mask else None,
                   outpaint=[d.value for d in directions], respective_field=field,
                   erode_or_dilate=used.inpaint_erode_or_dilate, invert_mask=used.invert_mask_checkbox,
                   inpaint_engine=engine.version if engine else "None")
    return InputPlan(method, width, height, steps, use, prompt_first_line=used.inpaint_additional_prompt or "")


def _engine(used: GenerateRequest, snapshot: CatalogSnapshot, warn, runnable: bool,
            base_architecture: str | None, base_inpainting: bool = False) -> InpaintEngine | None:
    """Fooocus's inpaint head + patch, when asked for (its default is v2.6) and usable; None otherwise."""
    version = (used.inpaint_engine or "None").strip()
    if version in NONE_NAMES:
        return None
    if version not in ENGINE_PATCHES:
        raise NormalizeError("inpaint_engine", f"{version!r} is not an inpaint engine: None, v1, v2.5 or v2.6")
    instead = "; the checkpoint inpaints as it is"
    if not runnable:
        warn(f"inpaint engine {version}: the workers' kernel does not run Fooocus's inpaint engine{instead}")
        return None
    installed = snapshot.models[ModelKind.inpaint]
    head, patch = installed.get(ENGINE_HEAD), installed.get(ENGINE_PATCHES[version])
    if head is None or patch is None:
        missing = " and ".join(n for n, f in ((ENGINE_HEAD, head), (ENGINE_PATCHES[version], patch)) if f is None)
        where = ", ".join(snapshot.folders[ModelKind.inpaint]) or "an inpaint folder of a models root (models/inpaint)"
        warn(f"inpaint engine {version}: {missing} not found in {where} (Fooocus's files, from "
             f"huggingface.co/lllyasviel/fooocus_inpaint){instead}")
        return None
    if base_inpainting:  # its own UNet reads the mask; Fooocus's patch is for a 4-channel UNet
        warn(f"inpaint engine {version}: the base is an inpainting checkpoint (its UNet reads the mask itself), "
             f"which Fooocus's patch does not fit{instead}")
        return None
    if base_architecture not in (None, "sdxl"):  # SD 1.5, or a file the worker may run but not patch
        warn(f"inpaint engine {version}: Fooocus's inpaint patch is for an SDXL base and this base's header says "
             f"{base_architecture}{instead}")
        return None
    return InpaintEngine(version=version, head=ModelRef(name=head.name, path=head.path),
                         patch=ModelRef(name=patch.name, path=patch.path))
