"""msgspec's validation errors said in remgo's words, naming the field as a JSON path.

msgspec says ``Expected `int | null`, got `str` - at `$.image_seed` ``; a client is told
``$.image_seed``: "must be an integer or null, got a string ('12')". The type at the path (read from the
struct with msgspec.inspect) gives both bounds of a range and the values of an enum, with the close ones
as suggestions; the decoded document, when there is one, gives the value that was sent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
import msgspec.inspect as mi

from orchestrator.common.field_error import close_matches

_AT = re.compile(r"^(?P<message>.*?)(?: - at `(?P<path>\$[^`]*)`)?$", re.DOTALL)
_STEP = re.compile(r"\.([^.\[]+)|\[(\d+|\.\.\.)\]")  # `[...]`: a value of a dict, its key untold
_ANY_KEY = "[...]"
_WORDS = {"int": "an integer", "float": "a number", "str": "a string", "bool": "true or false", "null": "null",
          "array": "an array", "object": "an object", "bytes": "base64 text", "datetime": "an RFC 3339 datetime",
          "date": "an RFC 3339 date", "time": "an RFC 3339 time", "uuid": "a UUID", "decimal": "a decimal number"}
_GOT = {**_WORDS, "float": "a number with a fraction", "bool": "a boolean"}
NOT_GIVEN: Any = object()  # no document to read the sent value from
_SHOWN_MAX = 60
_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?")


@dataclass(frozen=True)
class Explained:
    path: str  # a JSON path into the document: "$", "$.loras[0].weight"
    message: str
    suggestions: list[str] = field(default_factory=list)


def explain(exc: msgspec.ValidationError, root: Any, document: Any = NOT_GIVEN,
            aliases: Mapping[str, Sequence[str]] | None = None, *, text_values: bool = False) -> Explained:
    """`exc`, raised decoding `document` as `root`, in plain words. `aliases` maps names other APIs use
    for a top-level field (A1111's `steps`) to this API's names, suggested first. `text_values`: every
    value was sent as text (a query string), so only the value is shown, not its JSON type."""
    found = _AT.match(str(exc))
    text, path = (found.group("message"), found.group("path") or "$") if found else (str(exc), "$")
    steps = _steps(path)
    kind = _type_at(mi.type_info(root), steps)
    value = _value_at(document, steps)

    if m := re.fullmatch(r"Object contains unknown field `(.*)`", text, re.DOTALL):
        name = m.group(1)
        known = _field_names(kind)
        near = list((aliases or {}).get(name, ())) if path == "$" else []
        near += [n for n in close_matches(name, known, limit=3) if n not in near]
        return Explained(f"{path}.{name}", f"unknown field `{name}`", near)
    if m := re.fullmatch(r"Object missing required field `(.*)`", text, re.DOTALL):
        return Explained(f"{path}.{m.group(1)}", "is required and missing")
    if m := re.fullmatch(r"Invalid enum value (.*)", text, re.DOTALL):
        choices = _choices(kind)
        sent = _shown(value) if value is not NOT_GIVEN else m.group(1)
        if not choices:
            return Explained(path, f"{sent} is not an accepted value")
        near = close_matches(str(value), choices, limit=3) if isinstance(value, str) else []
        return Explained(path, f"{sent} is not one of {', '.join(choices)}", near)
    if m := re.fullmatch(r"Expected `([^`]*)`, got `([^`]*)`", text):
        got = _GOT.get(m.group(2), f"`{m.group(2)}`")
        if text_values and isinstance(value, str):
            got = _shown(value, text_values)
        elif value is not NOT_GIVEN and not isinstance(value, (list, dict)):
            got += f" ({_shown(value)})"
        expected = m.group(1)
        if text_values:  # a parameter left out is the null; a URL cannot send one
            expected = "|".join(t for t in expected.split("|") if t.strip() != "null") or expected
        return Explained(path, f"must be {_expected(expected)}, got {got}")
    if m := re.fullmatch(r"Expected `(int|float)` (>=|>|<=|<) (\S+)", text):
        return Explained(path, _bounds(kind, m.group(2), m.group(3)) + _got_value(value, text_values))
    if m := re.fullmatch(r"Expected `int` that's a multiple of (\S+)", text):
        return Explained(path, f"must be a multiple of {m.group(1)}" + _got_value(value, text_values))
    if m := re.fullmatch(r"Expected `str` of length (>=|<=) (\d+)", text):
        return Explained(path, _length(m.group(1), int(m.group(2)), "character") + _got_length(value))
    if m := re.fullmatch(r"Expected `str` matching regex (.*)", text, re.DOTALL):
        return Explained(path, f"must match the pattern {m.group(1)}" + _got_value(value, text_values))
    if m := re.fullmatch(r"Expected `(array|object)` of (?:at (least|most) )?length (>= |<= )?(\d+)(?: to (\d+))?(?:, got \d+)?",
                         text):
        noun = "item" if m.group(1) == "array" else "entry"
        if m.group(5):
            return Explained(path, f"must have {m.group(4)} to {m.group(5)} {_plural(noun)}" + _got_length(value))
        op = {"least": ">=", "most": "<="}.get(m.group(2) or "", (m.group(3) or "").strip())
        return Explained(path, _length(op or "==", int(m.group(4)), noun) + _got_length(value))
    if m := re.fullmatch(r"Expected `([^`]*)`", text):
        return Explained(path, f"must be {_expected(m.group(1))}" + _got_value(value, text_values))
    if text in ("Number out of range", "Integer value out of range"):
        return Explained(path, "is out of range" + _got_value(value, text_values))
    return Explained(path, text)


def json_kind(value: Any) -> str:
    """What a decoded JSON value is, as a client would say it: "an array", "a string" …"""
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number with a fraction"
    return {str: "a string", list: "an array", dict: "an object"}.get(type(value), type(value).__name__)


def _steps(path: str) -> list[str | int]:
    return [name or (_ANY_KEY if index == "..." else int(index)) for name, index in _STEP.findall(path[1:])]


def _unwrap(kind: Any) -> Any:
    return kind.type if isinstance(kind, mi.Metadata) else kind


def _type_at(kind: Any, steps: list[str | int]) -> Any:
    """The msgspec.inspect type at `steps` below `kind`; None when it cannot be told."""
    kind = _unwrap(kind)
    if not steps:
        return kind
    step, rest = steps[0], steps[1:]
    if isinstance(kind, mi.UnionType):
        for member in kind.types:
            found = _type_at(member, steps)
            if found is not None:
                return found
        return None
    if step == _ANY_KEY:
        return _type_at(kind.value_type, rest) if isinstance(kind, mi.DictType) else None
    if isinstance(step, str):
        if isinstance(kind, mi.StructType):
            for f in kind.fields:
                if f.encode_name == step:
                    return _type_at(f.type, rest)
            return None
        return _type_at(kind.value_type, rest) if isinstance(kind, mi.DictType) else None
    if isinstance(kind, mi.TupleType):
        return _type_at(kind.item_types[step], rest) if step < len(kind.item_types) else None
    if isinstance(kind, (mi.ListType, mi.VarTupleType, mi.SetType, mi.FrozenSetType)):
        return _type_at(kind.item_type, rest)
    return None


def _value_at(document: Any, steps: list[str | int]) -> Any:
    for step in steps:
        if step == _ANY_KEY:
            return NOT_GIVEN
        if isinstance(step, str) and isinstance(document, dict) and step in document:
            document = document[step]
        elif isinstance(step, int) and isinstance(document, list) and step < len(document):
            document = document[step]
        else:
            return NOT_GIVEN
    return document


def _members(kind: Any) -> list[Any]:
    kind = _unwrap(kind)
    return [_unwrap(t) for t in kind.types] if isinstance(kind, mi.UnionType) else [kind]


def _field_names(kind: Any) -> list[str]:
    return [f.encode_name for t in _members(kind) if isinstance(t, mi.StructType) for f in t.fields]


def _choices(kind: Any) -> list[str]:
    for t in _members(kind):
        if isinstance(t, mi.EnumType):
            return [str(member.value) for member in t.cls]
        if isinstance(t, mi.LiteralType):
            return [str(v) for v in t.values]
    return []


def _number_type(kind: Any) -> Any:
    return next((t for t in _members(kind) if isinstance(t, (mi.IntType, mi.FloatType))), None)


def _expected(types: str) -> str:
    words = [_WORDS.get(t.strip(), f"`{t.strip()}`") for t in types.split("|")]
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


def _num(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _bounds(kind: Any, op: str, limit: str) -> str:
    number = _number_type(kind)
    if number is not None and number.ge is not None and number.le is not None:
        return f"must be between {_num(number.ge)} and {_num(number.le)}"
    limit = _num(float(limit)) if "." in limit else limit
    return {">=": f"must be at least {limit}", ">": f"must be greater than {limit}",
            "<=": f"must be at most {limit}", "<": f"must be less than {limit}"}[op]


def _plural(noun: str) -> str:
    return "entries" if noun == "entry" else f"{noun}s"


def _length(op: str, n: int, noun: str) -> str:
    plural = noun if n == 1 else _plural(noun)
    if op == ">=":
        return "must not be empty" if n == 1 else f"must have at least {n} {plural}"
    if op == "<=":
        return f"must have at most {n} {plural}"
    return f"must have exactly {n} {plural}"


def _shown(value: Any, text_values: bool = False) -> str:
    if text_values and isinstance(value, str) and _NUMBER.fullmatch(value):
        return value  # a number typed in a URL: shown as typed
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        return repr(value if len(value) <= _SHOWN_MAX else value[:_SHOWN_MAX] + "…")
    if isinstance(value, (int, float)):
        return _num(value)
    return "an array" if isinstance(value, list) else "an object"


def _got_value(value: Any, text_values: bool = False) -> str:
    return "" if value is NOT_GIVEN or isinstance(value, (list, dict)) else f", got {_shown(value, text_values)}"


def _got_length(value: Any) -> str:
    return f", got {len(value)}" if isinstance(value, (str, list, dict)) else ""
