"""The body of `POST /v1/jobs` → a GenerateRequest: the v2 object, or the v1 positional payload.

Decoded by msgspec straight from bytes. Every failure is a `BodyError` whose `field` is a JSON path
into the body (`$.image_number`, `$.loras[0].weight`, `$.fooocus_args[8]`), so a 422 names the culprit.
"""

from __future__ import annotations

import difflib
import re

import msgspec

from contract.legacy import LegacyError, from_legacy, is_legacy_payload
from contract.request import GenerateRequest

_decoder = msgspec.json.Decoder(GenerateRequest)
# Only the top level, to tell v1 from v2: values stay raw, so a bad number deeper is named by the typed decode.
_peek = msgspec.json.Decoder(dict[str, msgspec.Raw] | list[msgspec.Raw] | str | float | bool | None)
NESTED_TOO_DEEPLY = "nested too deeply"
_AT = re.compile(r"^(?P<message>.*?)(?: - at `(?P<path>\$[^`]*)`)?$", re.DOTALL)
_UNKNOWN = re.compile(r"Object contains unknown field `(?P<name>[^`]*)`")
FIELDS = tuple(GenerateRequest.__struct_fields__)


class BodyError(ValueError):
    def __init__(self, field: str, message: str, suggestions: list[str] | None = None) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.suggestions = suggestions or []


def validation_error(exc: msgspec.ValidationError) -> BodyError:
    """msgspec's "… - at `$.x`" → BodyError("$.x", "…"); unknown keys get the path of the key itself."""
    m = _AT.match(str(exc))
    assert m is not None
    message, path = m.group("message"), m.group("path") or "$"
    unknown = _UNKNOWN.match(message)
    if unknown:
        name = unknown.group("name")
        near = difflib.get_close_matches(name, FIELDS, n=3) if path == "$" else []
        hint = f"; did you mean {', '.join(near)}?" if near else ""
        return BodyError(f"{path}.{name}", f"unknown field `{name}`{hint}", near)
    return BodyError(path, message)


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
            raise BodyError("$", f"the body must be a JSON object, got {type(peek).__name__}")
        return _decoder.decode(body), "v2"
    except msgspec.ValidationError as exc:
        raise validation_error(exc) from None
    except msgspec.DecodeError as exc:
        raise BodyError("$", f"not valid JSON: {exc}") from None
    except RecursionError:  # msgspec's answer to arrays/objects nested thousands deep
        raise BodyError("$", f"not valid JSON: {NESTED_TOO_DEEPLY}") from None
