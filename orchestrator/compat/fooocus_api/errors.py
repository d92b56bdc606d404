"""Refusals in a shape both kinds of client read: FastAPI's `{"detail": …}` (what clients generated from
Fooocus-API's OpenAPI document expect: a list of `{loc, msg, type}` on a 422, a text otherwise) and remgo's
own `{"error": {message, field, suggestions}}`, so a 4xx names the field whichever shape is read."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from starlette.responses import Response

from orchestrator.api.responses import json_response
from orchestrator.common.field_error import FieldError
from orchestrator.common.query_params import QueryError

_STEP = re.compile(r"\.([^.\[]+)|\[(\d+)\]")
# Fields of remgo's request → the Fooocus-API name a client of this face sent.
FIELD_NAMES = {
    "image_sharpness": "sharpness", "save_metadata_to_images": "save_meta", "metadata_scheme": "meta_scheme",
    "output_format": "save_extension", "uov_input_image": "input_image", "inpaint_input_image": "input_image",
    "inpaint_mask_image": "input_mask",
}
ADVANCED = frozenset({
    "disable_preview", "disable_seed_increment", "adm_scaler_positive", "adm_scaler_negative", "adm_scaler_end",
    "adaptive_cfg", "clip_skip", "sampler_name", "scheduler_name", "overwrite_step", "overwrite_switch",
    "overwrite_width", "overwrite_height", "overwrite_vary_strength", "overwrite_upscale_strength",
    "refiner_swap_method", "freeu_enabled", "freeu_b1", "freeu_b2", "freeu_s1", "freeu_s2",
    "inpaint_disable_initial_latent", "inpaint_engine", "inpaint_strength", "inpaint_respective_field",
    "invert_mask_checkbox", "inpaint_erode_or_dilate", "vae_name", "upscale_fallback",
    "controlnet_softness", "canny_low_threshold", "canny_high_threshold", "skipping_cn_preprocessor",
    "debugging_cn_preprocessor",
})
# An image prompt's fields in remgo's request → Fooocus-API's names.
PROMPT_NAMES = {"image": "cn_img", "type": "cn_type", "stop": "cn_stop", "weight": "cn_weight"}


class Refused(FieldError):
    """A request this face does not take; `status` is 422 (a value) or 501 (a feature remgo lacks)."""

    def __init__(self, field: str, message: str, suggestions: Iterable[str] = (), status: int = 422) -> None:
        super().__init__(field, message, suggestions)
        self.status = status


def fooocus_path(path: str, prompt_slots: Sequence[int] = ()) -> str:
    """A JSON path into remgo's request (`$.image_sharpness`, `$.loras[0].name`, `$.image_prompts[0].type`) →
    the same field in this face's body (`$.sharpness`, `$.loras[0].model_name`, `$.image_prompts[2].cn_type`;
    `prompt_slots[i]` is the body's slot of the request's image prompt i)."""
    head, _, rest = path.removeprefix("$.").partition(".")
    head, bracket, index = head.partition("[")
    if head == "loras" and rest == "name":
        rest = "model_name"
    if head == "image_prompts":
        rest = PROMPT_NAMES.get(rest, rest)
        item = index.rstrip("]")
        if item.isdigit() and int(item) < len(prompt_slots):
            index = f"{prompt_slots[int(item)]}]"
    if head in ADVANCED:
        head = f"advanced_params.{head}"
    head = FIELD_NAMES.get(head, head)
    return "$." + head + (f"[{index}" if bracket else "") + (f".{rest}" if rest else "") if path != "$" else "$"


def location(field: str, where: str) -> list[str | int]:
    """FastAPI's `loc` for a field: `["body", "advanced_params", "sampler_name"]`."""
    steps: list[str | int] = [where]
    if field.startswith("$"):
        for name, index in _STEP.findall(field[1:]):
            steps.append(int(index) if index else name)
    else:
        steps.append(field)
    return steps


def refusal(status: int, message: str, field: str | None, suggestions: Iterable[str] = (),
            where: str = "body", headers: dict[str, str] | None = None) -> Response:
    near = list(suggestions)
    text = message + (f" (did you mean {', '.join(near)}?)" if near else "")
    if status == 422 and field is not None:
        detail: object = [{"loc": location(field, where), "msg": text, "type": "value_error"}]
    else:
        detail = f"{field.removeprefix('$.')}: {text}" if field and field != "$" else text
    body = {"detail": detail, "error": {"message": message, "field": field, "suggestions": near}}
    return json_response(body, status, headers)


def query_refusal(exc: QueryError) -> Response:
    return refusal(422, exc.message, exc.field, exc.suggestions, where="query")
