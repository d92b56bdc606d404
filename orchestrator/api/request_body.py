"""The body of `POST /v1/jobs` → a GenerateRequest: the v2 object, or the v1 positional payload.

Decoded by msgspec straight from bytes. Every failure is a `BodyError` whose `field` is a JSON path
into the body (`$.image_number`, `$.loras[0].weight`, `$.fooocus_args[8]`), so a 422 names the culprit.
"""

from __future__ import annotations

import msgspec

from contract.legacy import LegacyError, from_legacy, is_legacy_payload
from contract.request import GenerateRequest
from orchestrator.common.validation_wording import NOT_GIVEN, explain, json_kind

_decoder = msgspec.json.Decoder(GenerateRequest)
# Only the top level, to tell v1 from v2: values stay raw, so a bad number deeper is named by the typed decode.
_peek = msgspec.json.Decoder(dict[str, msgspec.Raw] | list[msgspec.Raw] | str | float | bool | None)
NESTED_TOO_DEEPLY = "nested too deeply"
# What AUTOMATIC1111's API and Fooocus's own UI call a field, for an unknown name that is one of them.
FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "steps": ("overwrite_step",),
    "cfg_scale": ("guidance_scale",),
    "cfg": ("guidance_scale",),
    "seed": ("image_seed",),
    "sampler": ("sampler_name",),
    "sampler_index": ("sampler_name",),
    "scheduler": ("scheduler_name",),
    "negative": ("negative_prompt",),
    "model": ("base_model_name",),
    "checkpoint": ("base_model_name",),
    "refiner": ("refiner_model_name",),
    "refiner_checkpoint": ("refiner_model_name",),
    "refiner_switch_at": ("refiner_switch",),
    "vae": ("vae_name",),
    "styles": ("style_selections",),
    "style": ("style_selections",),
    "performance": ("performance_selection",),
    "aspect_ratio": ("aspect_ratios_selection",),
    "resolution": ("aspect_ratios_selection",),
    "width": ("overwrite_width", "aspect_ratios_selection"),
    "height": ("overwrite_height", "aspect_ratios_selection"),
    "batch_size": ("image_number",),
    "n_iter": ("image_number",),
    "num_images": ("image_number",),
    "sharpness": ("image_sharpness",),
    "format": ("output_format",),
}


class BodyError(ValueError):
    def __init__(self, field: str, message: str, suggestions: list[str] | None = None) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.suggestions = suggestions or []


def validation_error(exc: msgspec.ValidationError, root: type = GenerateRequest, body: bytes | None = None) -> BodyError:
    """msgspec's error decoding `body` as `root` → BodyError naming the field as a JSON path (an unknown key:
    the path of the key itself), in plain words, with close names as suggestions."""
    document = NOT_GIVEN
    if body is not None:
        try:
            document = msgspec.json.decode(body)
        except (msgspec.DecodeError, RecursionError):
            pass
    aliases = FIELD_ALIASES if isinstance(root, type) and issubclass(root, GenerateRequest) else None
    told = explain(exc, root, document, aliases)
    return BodyError(told.path, told.message, told.suggestions)


def decode_request(body: bytes) -> tuple[GenerateRequest, str]:
    """(request, "v2" | "v1"). Raises BodyError."""
    if not body.strip():
        raise BodyError("$", "the body is empty; send a JSON object (a v2 request or a v1 payload)")
    try:
        peek = _peek.decode(body)
        if is_legacy_payload(peek):
            try:
                return from_legacy(body), "v1"
            except LegacyError as exc:
                raise BodyError(exc.path, exc.message) from None
        if not isinstance(peek, dict):
            raise BodyError("$", f"the body must be a JSON object, got {json_kind(peek)}")
        return _decoder.decode(body), "v2"
    except msgspec.ValidationError as exc:
        raise validation_error(exc, GenerateRequest, body) from None
    except msgspec.DecodeError as exc:
        raise BodyError("$", f"not valid JSON: {exc}") from None
    except RecursionError:  # msgspec's answer to arrays/objects nested thousands deep
        raise BodyError("$", f"not valid JSON: {NESTED_TOO_DEEPLY}") from None
