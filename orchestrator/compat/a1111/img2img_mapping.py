"""An AUTOMATIC1111 img2img body → remgo's GenerateRequest: without a mask remgo's Vary (Fooocus's size rule),
with one AUTOMATIC1111's inpainting steps (`inpaint_a1111`); the fields both calls share are request_mapping's."""

from __future__ import annotations

from contract.image_input import MAX_INPUT_SIDE, MAX_MASK_BLUR
from contract.request import UovMethod
from orchestrator.catalog import Catalog
from orchestrator.compat.a1111.face_options import FaceOptions
from orchestrator.compat.a1111.request_mapping import Mapped, asked_size, base_fields, build, refuse
from orchestrator.compat.a1111.request_models import Img2ImgRequest
from orchestrator.normalize.image_input import shape_ceil, with_shape_ceil
from orchestrator.store.input_checks import InputRefused, read_header
from orchestrator.store.input_refs import decode_inline

RESIZE_MODES = {0: "Just resize", 1: "Crop and resize", 2: "Resize and fill", 3: "Just resize (latent upscale)"}
FILL_NAMES = {0: "fill", 1: "original", 2: "latent noise", 3: "latent nothing"}


def vary_size(width: int, height: int) -> tuple[int, int]:
    """The size normalize/image_input.py's Vary makes of a width × height image (Fooocus's rule)."""
    ceil = shape_ceil(width, height)
    if 1024 <= ceil <= 2048:
        return width // 8 * 8, height // 8 * 8
    return with_shape_ceil(width, height, min(max(ceil, 1024), 2048))


def _header(text: str, name: str) -> tuple[int, int]:
    try:
        data, _ = decode_inline(text, name)
        found = read_header(data, name)
    except InputRefused as exc:
        raise refuse(name, exc.message) from None
    return found.width, found.height


def _blur(body: Img2ImgRequest) -> tuple[int, int]:
    """A1111's mask blur across and down: `mask_blur`, when given, sets both."""
    if body.mask_blur is not None:
        x = y = body.mask_blur
        names = ("mask_blur", "mask_blur")
    else:
        x = 4 if body.mask_blur_x is None else body.mask_blur_x
        y = 4 if body.mask_blur_y is None else body.mask_blur_y
        names = ("mask_blur_x", "mask_blur_y")
    for name, value in zip(names, (x, y), strict=True):
        if not 0 <= value <= MAX_MASK_BLUR:
            raise refuse(name, f"must be within 0…{MAX_MASK_BLUR}, got {value}")
    return x, y


def img2img(body: Img2ImgRequest, catalog: Catalog, options: FaceOptions) -> Mapped:
    images = body.init_images or []
    if len(images) != 1:
        raise refuse("init_images", f"send exactly one image (got {len(images)})")
    denoise = body.denoising_strength if body.denoising_strength is not None else 0.75
    if not 0 < denoise <= 1:
        raise refuse("denoising_strength", f"must be 0 < x ≤ 1, got {denoise:g}")
    if body.initial_noise_multiplier not in (None, 1):
        raise refuse("initial_noise_multiplier", "the starting noise is not scaled here; send 1")
    if body.latent_mask:
        raise refuse("latent_mask", "a separate latent mask is not taken here")
    mode = body.resize_mode if body.resize_mode is not None else 0
    if mode not in RESIZE_MODES:
        raise refuse("resize_mode", f"one of 0 … 3, got {mode}")
    fields, mapped = base_fields(body, catalog, options)
    width, height = asked_size(body)
    image_w, image_h = _header(images[0], "init_images[0]")
    if body.mask is None:
        fields |= _vary(body, images[0], denoise, (image_w, image_h), (width, height), mode)
    else:
        fields |= _inpaint(body, images[0], denoise, (image_w, image_h), (width, height))
    mapped.request = build(fields)
    return mapped


def _vary(body: Img2ImgRequest, image: str, denoise: float, given: tuple[int, int], asked: tuple[int, int],
          mode: int) -> dict:
    out = vary_size(*given)
    if asked != out:
        raise refuse("width", f"img2img of a {given[0]}×{given[1]} image makes a {out[0]}×{out[1]} image here "
                               f"(Fooocus's Vary: the image's shape, its size brought within 1024…2048 pixels "
                               f"a side on average); send width {out[0]} and height {out[1]}")
    if out != given and mode != 0:
        raise refuse("resize_mode", f"the image is resized from {given[0]}×{given[1]} to {out[0]}×{out[1]} "
                                     f"by stretching (0, {RESIZE_MODES[0]}); {RESIZE_MODES[mode]} is not run here")
    return dict(uov_method=UovMethod.vary_strong.value, uov_input_image=image, overwrite_vary_strength=denoise)


def _inpaint(body: Img2ImgRequest, image: str, denoise: float, given: tuple[int, int],
             asked: tuple[int, int]) -> dict:
    """A1111's inpainting steps (contract inpaint_a1111): "only masked" samples the box around the mask at
    width × height and returns the image's size; the whole picture is sampled at the image's own size."""
    assert body.mask is not None
    if _header(body.mask, "mask") != given:
        raise refuse("mask", "the mask must have the image's size")
    only_masked = True if body.inpaint_full_res is None else bool(body.inpaint_full_res)
    if not only_masked and asked != given:
        raise refuse("width", f"the whole picture is inpainted at the image's size here: send width {given[0]} "
                               f"and height {given[1]} (resize the image first for another size)")
    blur_x, blur_y = _blur(body)
    fill = body.inpainting_fill if body.inpainting_fill is not None else 0
    if fill not in FILL_NAMES:
        raise refuse("inpainting_fill", f"one of 0 (fill), 1 (original), 2 (latent noise), 3 (latent nothing); "
                                         f"got {fill}")
    padding = body.inpaint_full_res_padding or 0
    if not 0 <= padding <= MAX_INPUT_SIDE:
        raise refuse("inpaint_full_res_padding", f"must be within 0…{MAX_INPUT_SIDE}, got {padding}")
    invert = body.inpainting_mask_invert or 0
    if invert not in (0, 1):
        raise refuse("inpainting_mask_invert", f"0 or 1, got {invert}")
    steps = dict(mask_blur_x=blur_x, mask_blur_y=blur_y, inpainting_fill=fill, inpaint_full_res=only_masked,
                 inpaint_full_res_padding=padding, mask_round=body.mask_round is not False)
    if only_masked:
        steps |= dict(width=asked[0], height=asked[1])
    return dict(inpaint_input_image=image, inpaint_mask_image=body.mask, inpaint_strength=denoise,
                inpaint_respective_field=1.0, invert_mask_checkbox=bool(invert), inpaint_erode_or_dilate=0,
                inpaint_disable_initial_latent=False, inpaint_engine="None", inpaint_additional_prompt="",
                outpaint_selections=[], inpaint_a1111=steps)
