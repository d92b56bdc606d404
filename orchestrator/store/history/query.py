"""One page of history: the filters a client may give, their validation, and the keyset SQL.

Pages are cut by `seq` (the creation time in µs, unique, see history_schema), newest first: the next
page starts strictly after the last row of this one, so there is no OFFSET scan, and images added
meanwhile (all newer) never shift a later page. With a search, the full-text index walks its matches
newest first and stops as soon as the page is full.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated

import msgspec

from orchestrator.common.query_params import Query, QueryError, names, parse_query
from orchestrator.store.history.schema import model_key
from orchestrator.store.history.search import fts_expression

__all__ = ["HistoryParams", "HistoryQuery", "QueryError"]

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


class HistoryParams(Query):
    """The query string of `GET /v1/history` (and the filters of `remgo history list`)."""

    limit: Annotated[int, msgspec.Meta(ge=1, le=MAX_LIMIT, description="page size")] = DEFAULT_LIMIT
    cursor: Annotated[str, msgspec.Meta(description="next_cursor of the previous page")] | None = None
    q: Annotated[str, msgspec.Meta(description=(
        "full-text search of prompts, negative prompts, styles and model names, in FTS5 syntax: every word "
        'must occur, word* a prefix, "a phrase", AND, OR, NOT, (groups), styles:anime'))] | None = None
    model: Annotated[str, msgspec.Meta(description=(
        "base model: its file name or the name its metadata shows (the file name without folder and "
        "extension), any case"))] | None = None
    since: Annotated[str, msgspec.Meta(description="ISO 8601 date or datetime (no zone: UTC), inclusive")] | None = None
    until: Annotated[str, msgspec.Meta(description="ISO 8601 date (the whole day) or datetime, inclusive")] | None = None
    starred: Annotated[bool, msgspec.Meta(description="only starred (true) or unstarred (false) images")] | None = None
    input_method: Annotated[str, msgspec.Meta(description=(
        "only images made from an input image this way: Vary, Upscale, Inpaint or Outpaint, or a full name such "
        "as 'Vary (Subtle)', any case"))] | None = None
    made_from: Annotated[str, msgspec.Meta(description=(
        "only images made from this input: the history id of the image used, or the input file's sha256"))] | None = None
    image_prompts: Annotated[bool, msgspec.Meta(description=(
        "only images made with image prompts (true) or without (false)"))] | None = None
    image_prompt_type: Annotated[str, msgspec.Meta(description=(
        "only images made with an image prompt of this type: ImagePrompt, FaceSwap, PyraCanny or CPDS, any "
        "case"))] | None = None


PARAMS = names(HistoryParams)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)


def micros(moment: datetime) -> int:
    """A moment as µs since the Unix epoch (naive means local time, as file names are)."""
    return (moment.astimezone(UTC) - _EPOCH) // _MICRO


def iso(us: int) -> str:
    """µs since the epoch → UTC ISO 8601 text, fixed width."""
    return (_EPOCH + us * _MICRO).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_bound(field: str, text: str, *, end_of_day: bool) -> int:
    """An ISO date or datetime from a query (naive means UTC) → µs. A bare date `until` covers that day."""
    try:
        if len(text) == 10:
            moment = datetime.combine(date.fromisoformat(text), time(), tzinfo=UTC)
            return micros(moment + timedelta(days=1)) - 1 if end_of_day else micros(moment)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise QueryError(field, f"{text!r} is not an ISO 8601 date or datetime") from None
    return micros(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"s{seq}".encode()).decode().rstrip("=")


def decode_cursor(text: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        if raw[:1] != "s" or not 0 <= int(raw[1:]) < 2**63:  # sqlite integers are 64-bit
            raise ValueError(raw)
        return int(raw[1:])
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise QueryError("cursor", "not a cursor this server gave out") from None


@dataclass(frozen=True)
class HistoryQuery:
    limit: int = DEFAULT_LIMIT
    cursor: int | None = None  # seq of the last row of the previous page
    q: str | None = None  # an FTS5 expression (history_search)
    model: str | None = None  # a model_key
    since: int | None = None  # µs, inclusive
    until: int | None = None  # µs, inclusive
    starred: bool | None = None
    input_method: str | None = None  # casefolded
    made_from: str | None = None
    image_prompts: bool | None = None
    image_prompt_type: str | None = None  # casefolded

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> HistoryQuery:
        """Validate query-string parameters; unknown ones are refused, not ignored."""
        return cls.of(parse_query(HistoryParams, params.items()))

    @classmethod
    def of(cls, params: HistoryParams) -> HistoryQuery:
        query = cls(
            limit=params.limit,
            cursor=decode_cursor(params.cursor) if params.cursor else None,
            q=fts_expression(params.q) if params.q else None,
            model=model_key(params.model) if params.model else None,
            since=parse_bound("since", params.since, end_of_day=False) if params.since else None,
            until=parse_bound("until", params.until, end_of_day=True) if params.until else None,
            starred=params.starred,
            input_method=params.input_method.strip().casefold() if params.input_method else None,
            made_from=params.made_from.strip().lower() if params.made_from else None,
            image_prompts=params.image_prompts,
            image_prompt_type=params.image_prompt_type.strip().casefold() if params.image_prompt_type else None,
        )
        if query.since is not None and query.until is not None and query.since > query.until:
            raise QueryError("until", f"{params.until!r} is before since {params.since!r}: nothing can match")
        return query

    def sql(self) -> tuple[str, list[object]]:
        """SELECT for this page, one row more than `limit` (its presence means there is a next page)."""
        # With a search the full-text index drives (CROSS JOIN keeps it the outer loop), newest first.
        key = "images_fts.rowid" if self.q is not None else "seq"
        where: list[str] = []
        args: list[object] = []
        if self.q is not None:
            where.append("images_fts MATCH ?")
            args.append(self.q)
        if self.model is not None:
            where.append("images.model_key = ?")
            args.append(self.model)
        if self.starred is not None:
            where.append("images.starred = ?")
            args.append(int(self.starred))
        if self.input_method is not None:  # a family ("vary") or a full name ("vary (subtle)")
            where.append("(lower(images.input_method) = ? OR lower(images.input_method) LIKE ? || ' (%')")
            args += [self.input_method, self.input_method]
        if self.made_from is not None:
            where.append("(images.input_history_id = ? OR images.input_hash = ?)")
            args += [self.made_from, self.made_from]
        if self.image_prompts is not None:
            where.append(f"images.image_prompt_types IS {'NOT ' if self.image_prompts else ''}NULL")
        if self.image_prompt_type is not None:  # one type per line
            where.append("instr(char(10) || lower(images.image_prompt_types) || char(10), char(10) || ? || char(10))")
            args.append(self.image_prompt_type)
        for clause, value in ((f"{key} >= ?", self.since), (f"{key} <= ?", self.until),
                              (f"{key} < ?", self.cursor)):
            if value is not None:
                where.append(clause)
                args.append(value)
        source = "images_fts CROSS JOIN images ON images.seq = images_fts.rowid" if self.q else "images"
        clause = f"WHERE {' AND '.join(where)} " if where else ""
        args.append(self.limit + 1)
        return f"SELECT images.* FROM {source} {clause}ORDER BY {key} DESC LIMIT ?", args
