"""Query parameters: each route declares the ones it takes as a `Query` struct, decoded once at the boundary.

Whatever the route, a name it does not take, a value of the wrong type or range, a parameter given twice,
and parameters that only make sense together are a QueryError naming the parameter (answered 422, like
a bad body). An empty value (`?limit=`) is the same as leaving the parameter out, as HTML forms send it.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Annotated, Any, TypeVar

import msgspec
import msgspec.inspect as mi

from orchestrator.common.field_error import FieldError, close_matches
from orchestrator.common.validation_wording import explain

# Booleans in a URL: msgspec takes true/false/1/0 (any case); these words mean the same.
_BOOL_WORDS = {"yes": "true", "on": "true", "no": "false", "off": "false"}


class QueryError(FieldError):
    """A query parameter refused; `field` is the parameter's name."""


class Query(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The query parameters of one route. Field types and `msgspec.Meta` bounds are the validation and
    the OpenAPI description at once; `check` holds the rules between parameters."""

    def check(self) -> None:
        """Raise QueryError when given parameters do not go together."""


class NoQuery(Query):
    """A route that takes no query parameters."""


class KeyQuery(Query):
    """A route that also reads the API key from the URL (app.QUERY_KEY_PATHS): an <img> or a link cannot
    send a header. Taken by the key check, never by the route."""

    api_key: Annotated[str, msgspec.Meta(description="the API key, where a header cannot be sent")] | None = None


Q = TypeVar("Q", bound=Query)


@functools.cache
def names(kind: type[Query]) -> tuple[str, ...]:
    return tuple(f.encode_name for f in mi.type_info(kind).fields)


@functools.cache
def _bool_names(kind: type[Query]) -> frozenset[str]:
    def is_bool(t: Any) -> bool:
        t = t.type if isinstance(t, mi.Metadata) else t
        return isinstance(t, mi.BoolType) or (isinstance(t, mi.UnionType) and any(map(is_bool, t.types)))

    return frozenset(f.encode_name for f in mi.type_info(kind).fields if is_bool(f.type))


def offered(kind: type[Query]) -> str:
    """`kind`'s parameters in words, for a message."""
    known = names(kind)
    if not known:
        return "this route takes no query parameters"
    return f"this route takes only {known[0]}" if len(known) == 1 else f"this route takes {', '.join(known)}"


def parse_query(kind: type[Q], items: Iterable[tuple[str, str]]) -> Q:
    """The (name, value) pairs of a query string as `kind`; QueryError naming the parameter."""
    given: dict[str, str] = {}
    known = names(kind)
    for name, value in items:
        if name not in known:
            raise QueryError(name, f"unknown query parameter `{name}`; {offered(kind)}", close_matches(name, known, 3))
        if name in given:
            raise QueryError(name, "is given more than once; give it once")
        given[name] = value
    values: dict[str, Any] = {k: v for k, v in given.items() if v != ""}
    for name in _bool_names(kind) & values.keys():
        values[name] = _BOOL_WORDS.get(values[name].lower(), values[name])
    try:
        params = msgspec.convert(values, kind, strict=False)
    except msgspec.ValidationError as exc:
        told = explain(exc, kind, values, text_values=True)
        raise QueryError(told.path.removeprefix("$."), told.message, told.suggestions) from None
    params.check()
    return params
