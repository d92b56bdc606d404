"""`inpaint_a1111` → an Inpaint that runs AUTOMATIC1111's steps (contract.image_input.A1111Inpaint).

The output is the input image's size, as in A1111's inpainting; "only masked" samples the box around the
mask at `width` × `height` (multiples of 8; not given: the image's size), the whole picture at the image's
own size, which must then be a multiple of 8 each side. Outpaint is Fooocus's and is refused with it;
Fooocus's other inpaint knobs do nothing here, and a value asked for that differs from the built-in one
is said in the warnings.
"""

from __future__ import annotations

from contract.image_input import A1111Inpaint, Inpaint, InputImage, MaskedContent
from contract.request import GenerateRequest
from orchestrator.catalog.preset_fit import NONE_NAMES
from orchestrator.catalog.tables import BUILTIN
from orchestrator.common.image_params import InputUse
from orchestrator.common.input_image import ResolvedImage
from orchestrator.normalize.errors import NormalizeError

FIELD = "inpaint_a1111"
CONTENT = (MaskedContent.fill, MaskedContent.original, MaskedContent.latent_noise, MaskedContent.latent_nothing)
# Fooocus's knobs the A1111 steps replace, and the value at which each does nothing anyway
FOOOCUS_KNOBS = {"inpaint_respective_field": 1.0, "inpaint_erode_or_dilate": 0,
                 "inpaint_disable_initial_latent": False}
MAX_SIDE = 8192


def _work_size(asked: GenerateRequest, image: ResolvedImage) -> tuple[int, int]:
    options = asked.inpaint_a1111
    assert options is not None
    if not options.inpaint_full_res:
        for name in ("width", "height"):
            given = getattr(options, name)
            if given is not None and given != getattr(image, name):
                raise NormalizeError(f"{FIELD}.{name}", f"the whole picture is inpainted at the image's own size "
                                     f"({image.width}×{image.height}); leave {name} out or send "
                                     f"{getattr(image, name)}")
        if image.width % 8 or image.height % 8:
            raise NormalizeError("inpaint_input_image", f"the whole picture is inpainted at the image's own size, "
                                 f"{image.width}×{image.height}, which must be a multiple of 8 each side; resize "
                                 f"it, or inpaint only the masked area ({FIELD}.inpaint_full_res)")
        return image.width, image.height
    width = options.width if options.width is not None else image.width
    height = options.height if options.height is not None else image.height
    for name, side in (("width", width), ("height", height)):
        if side % 8:
            given = getattr(options, name) is not None
            raise NormalizeError(f"{FIELD}.{name}", f"the masked area is sampled at {width}×{height}; each side "
                                 "must be a multiple of 8" + ("" if given else f" (not given: the image's {name})"))
    return width, height


def _unused(used: GenerateRequest, warn) -> None:
    for name, neutral in FOOOCUS_KNOBS.items():
        value = getattr(used, name)
        if value not in (neutral, getattr(BUILTIN, name)):
            warn(f"{name} is Fooocus's and does nothing with {FIELD} (AUTOMATIC1111's steps); it was {value}")
    engine = (used.inpaint_engine or "None").strip()
    if engine not in NONE_NAMES and engine != BUILTIN.inpaint_engine:
        warn(f"inpaint_engine {engine} is Fooocus's and does not run with {FIELD} (AUTOMATIC1111's steps)")


def plan(used: GenerateRequest, image: InputImage, found: ResolvedImage, mask: InputImage | None,
         mask_sha256: str | None, warn) -> tuple[Inpaint, InputUse]:
    """The task's Inpaint and what the metadata says of it (the output is the image's size)."""
    options = used.inpaint_a1111
    assert options is not None
    if mask is None:
        raise NormalizeError("inpaint_mask_image", f"{FIELD} inpaints where a mask is white: send one")
    if used.outpaint_selections:
        raise NormalizeError("outpaint_selections", f"Outpaint is Fooocus's; it does not run with {FIELD}")
    if max(found.width, found.height) > MAX_SIDE or min(found.width, found.height) < 64:
        raise NormalizeError("inpaint_input_image", f"a {found.width}×{found.height} image must have each side "
                             f"within 64…{MAX_SIDE}")
    _unused(used, warn)
    width, height = _work_size(used, found)
    content = CONTENT[options.inpainting_fill]
    steps = A1111Inpaint(blur_x=options.mask_blur_x, blur_y=options.mask_blur_y, content=content,
                         only_masked=options.inpaint_full_res, padding=options.inpaint_full_res_padding,
                         round_mask=options.mask_round, width=width, height=height)
    denoise = used.inpaint_strength if used.inpaint_strength is not None else 1.0
    method = Inpaint(image=image, mask=mask, denoise=denoise, respective_field=1.0,
                     invert_mask=bool(used.invert_mask_checkbox), a1111=steps)
    blur = options.mask_blur_x if options.mask_blur_x == options.mask_blur_y and options.mask_blur_x else None
    use = InputUse(method="Inpaint", denoise=denoise, image_sha256=found.sha256, history_id=found.history_id,
                   mask_sha256=mask_sha256, invert_mask=bool(used.invert_mask_checkbox), mask_blur=blur,
                   inpaint_area="Only masked" if options.inpaint_full_res else None,
                   masked_area_padding=options.inpaint_full_res_padding if options.inpaint_full_res else None,
                   masked_content=None if content is MaskedContent.original else content.value)
    return method, use
