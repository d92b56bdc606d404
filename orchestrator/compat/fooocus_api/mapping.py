"""A Fooocus-API body → remgo's GenerateRequest, and what this face answers with besides (async, base64,
webhook). Most fields carry over by name; the others are said here, each honoured or refused by name.

Differences from Fooocus-API, on purpose: an unknown style, model or LoRA is refused with the close names
(Fooocus-API drops it or swaps in its default with a line in its log); values out of range are refused
(Fooocus-API falls back to its defaults for a bad `advanced_params` string); a feature remgo does not run
is a 501 naming it.

Image prompts: each slot with an image becomes one of the request's `image_prompts` (its cn_stop and cn_weight
as they are: None or 0 is the type's default, as in Fooocus-API); empty slots (Fooocus-API pads to four) are
skipped. Fooocus-API mixes image prompts with an input image unless the request's advanced_params leave its
mixing flag off; remgo mixes them always, so a mixing flag sent as false with both is refused, not dropped.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

import msgspec

from contract.request import GenerateRequest, ImageSource, LoraEntry, UovMethod
from orchestrator.common.validation_wording import explain
from orchestrator.compat.fooocus_api.errors import ADVANCED, Refused, fooocus_path
from orchestrator.compat.fooocus_api.shapes import (
    AdvancedParams,
    AnyRequest,
    CommonRequest,
    ImageField,
    InpaintOutpaint,
    TextToImageWithIp,
    UpscaleVary,
)

REQUEST_FORMAT = "fooocus-api"  # the job store's name for bodies of this face
# Fooocus-API's own default (its CommonRequest); remgo's preset default is 2.
IMAGE_NUMBER = 1
# What Fooocus-API reads as "no image" (Swagger UI fills a string field with "string").
NO_IMAGE = frozenset({"", "None", "none", "null", "string"})
EXTENSIONS = {"png": "png", "jpg": "jpeg", "jpeg": "jpeg", "webp": "webp"}
SCHEMES = {"fooocus": "fooocus", "a111": "a1111", "a1111": "a1111"}
MIXING = {"mixing_image_prompt_and_vary_upscale": "uov_input_image",
          "mixing_image_prompt_and_inpaint": "inpaint_input_image"}
ENHANCE_ONLY = ("debugging_dino", "dino_erode_or_dilate", "debugging_enhance_masks_checkbox")
# Asked for (true), these need what remgo does not have.
UNSUPPORTED = {
    "debugging_inpaint_preprocessor": "returning the inpaint preprocessor's mask instead of images is not "
                                      "supported here",
    "black_out_nsfw": "this server has no NSFW checker",
}


class JobType(str, enum.Enum):
    text_to_image = "Text to Image"
    upscale_vary = "Image Upscale or Variation"
    inpaint_outpaint = "Image Inpaint or Outpaint"
    image_prompt = "Image Prompt"
    not_found = "Not Found"


@dataclass(frozen=True)
class Mapped:
    request: GenerateRequest
    notes: tuple[str, ...]
    prompt_slots: tuple[int, ...] = ()  # the body's image_prompts index of each of the request's


def decode(document: Any, shape: type[AnyRequest], *, strict: bool = True) -> AnyRequest:
    """A decoded JSON body (or a form turned into one: `strict=False` reads numbers and booleans from text)."""
    if not isinstance(document, dict):
        raise Refused("$", "the body must be a JSON object")
    try:
        return msgspec.convert(document, shape, strict=strict)
    except msgspec.ValidationError as exc:
        told = explain(exc, shape, document, text_values=not strict)
        raise Refused(told.path, told.message, told.suggestions) from None


def image_given(value: ImageField) -> bool:
    return isinstance(value, ImageSource) or (isinstance(value, str) and value.strip() not in NO_IMAGE)


def _image_prompts(req: AnyRequest, fields: dict[str, Any], notes: list[str]) -> tuple[int, ...]:
    """The slots with an image → the request's image prompts; returns each one's slot in the body. A mixing
    flag off with both image prompts and an input image is refused; one on that mixes nothing is noted."""
    slots = tuple(i for i, p in enumerate(getattr(req, "image_prompts", [])) if image_given(p.cn_img))
    if slots:
        fields["image_prompts"] = [{"image": p.cn_img, "type": p.cn_type.value, "stop": p.cn_stop,
                                    "weight": p.cn_weight} for p in (req.image_prompts[i] for i in slots)]
    adv = req.advanced_params
    for flag, image in MIXING.items():
        mixed = bool(slots) and fields.get(image) is not None
        given = getattr(adv, flag) if adv is not None else None
        if mixed and given is False:
            raise Refused(f"$.advanced_params.{flag}", f"image prompts and the input image always run together "
                          f"here; send {flag} true (or leave it out), or send the image prompts alone")
        if given and not mixed:
            notes.append(f"advanced_params.{flag} had no effect: the request does not have both image prompts "
                         "and that input image")
    return slots


def _advanced(adv: AdvancedParams | None, fields: dict[str, Any], notes: list[str]) -> None:
    if adv is None:
        return
    for name in ADVANCED:
        value = getattr(adv, name)
        if value is not None:
            fields[name] = value
    for name, why in UNSUPPORTED.items():
        if getattr(adv, name):
            raise Refused(f"$.advanced_params.{name}", why)
    for name in ENHANCE_ONLY:
        value = getattr(adv, name)
        if value not in (None, False, 0):
            notes.append(f"advanced_params.{name} had no effect: it applies to Image Enhance, which this server "
                         "does not run")


def _images(req: AnyRequest, fields: dict[str, Any], notes: list[str]) -> None:
    if isinstance(req, UpscaleVary):
        if not image_given(req.input_image):
            raise Refused("$.input_image", "the image to upscale or vary is required")
        fields["uov_method"] = req.uov_method
        fields["uov_input_image"] = req.input_image
        if req.uov_method is UovMethod.upscale_custom:
            fields["upscale_value"] = req.upscale_value
        elif req.upscale_value not in (None, 1.0):
            notes.append(f"upscale_value had no effect: it is the factor of Upscale (Custom), not of "
                         f"{req.uov_method.value}")
    elif isinstance(req, InpaintOutpaint):
        for side in ("left", "right", "top", "bottom"):
            distance = getattr(req, f"outpaint_distance_{side}")
            if distance is not None and distance > 0:
                raise Refused(f"$.outpaint_distance_{side}", "custom outpaint distances are not supported: an "
                              "outpaint direction adds Fooocus's 30 % of the image's side; send 0 or -1")
        if image_given(req.input_image):
            fields["inpaint_input_image"] = req.input_image
            if image_given(req.input_mask):
                fields["inpaint_mask_image"] = req.input_mask
            fields["outpaint_selections"] = req.outpaint_selections
            fields["inpaint_additional_prompt"] = req.inpaint_additional_prompt or None
        elif image_given(req.input_mask) or req.outpaint_selections or req.inpaint_additional_prompt:
            raise Refused("$.input_image", "inpainting and outpainting need the input image")


def to_request(req: AnyRequest, *, image_number: int | None = None) -> Mapped:
    """The GenerateRequest `req` asks for, and notes for the job's warnings. Raises Refused naming the field
    as the client sent it."""
    notes: list[str] = []
    fields: dict[str, Any] = {
        name: getattr(req, name) for name in (
            "prompt", "negative_prompt", "style_selections", "performance_selection", "aspect_ratios_selection",
            "image_seed", "guidance_scale", "base_model_name", "refiner_model_name", "refiner_switch",
            "read_wildcards_in_order")
    }
    fields["prompt"] = req.prompt or ""
    fields["image_number"] = image_number or req.image_number or IMAGE_NUMBER
    fields["image_sharpness"] = req.sharpness
    fields["save_metadata_to_images"] = req.save_meta
    if req.loras is not None:
        fields["loras"] = [LoraEntry(name=lora.model_name, weight=lora.weight, enabled=lora.enabled)
                           for lora in req.loras]
    if req.meta_scheme is not None:
        if req.meta_scheme.strip().lower() not in SCHEMES:
            raise Refused("$.meta_scheme", f"{req.meta_scheme!r} is not a metadata scheme", list(SCHEMES))
        fields["metadata_scheme"] = SCHEMES[req.meta_scheme.strip().lower()]
    if req.save_extension is not None:
        if req.save_extension.strip().lower().lstrip(".") not in EXTENSIONS:
            raise Refused("$.save_extension", f"{req.save_extension!r} is not an image format", ["png", "jpg", "webp"])
        fields["output_format"] = EXTENSIONS[req.save_extension.strip().lower().lstrip(".")]
    if req.save_name:
        raise Refused("$.save_name", "remgo names output files itself (a dated folder, the time and the job id); "
                                     "leave save_name empty")
    _advanced(req.advanced_params, fields, notes)
    _images(req, fields, notes)
    slots = _image_prompts(req, fields, notes)
    given = {k: v for k, v in fields.items() if v is not None}
    try:
        request = msgspec.convert(msgspec.to_builtins(given), GenerateRequest)
    except msgspec.ValidationError as exc:
        told = explain(exc, GenerateRequest, msgspec.to_builtins(given))
        raise Refused(fooocus_path(told.path, slots), told.message, told.suggestions) from None
    return Mapped(request=request, notes=tuple(notes), prompt_slots=slots)


def job_type(request: GenerateRequest) -> JobType:
    """Fooocus-API's job type of a job, from what it runs (a job of any face can be queried here)."""
    if request.uov_input_image is not None and request.uov_method not in (None, UovMethod.disabled):
        return JobType.upscale_vary
    if request.inpaint_input_image is not None:
        return JobType.inpaint_outpaint
    if request.image_prompts:
        return JobType.image_prompt
    return JobType.text_to_image


SHAPES: dict[str, type[AnyRequest]] = {
    "text-to-image": CommonRequest, "text-to-image-with-ip": TextToImageWithIp, "image-upscale-vary": UpscaleVary,
    "image-inpaint-outpaint": InpaintOutpaint, "image-prompt": InpaintOutpaint,
}
