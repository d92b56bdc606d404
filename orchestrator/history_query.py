"""One page of history: the filters a client may give, their validation, and the keyset SQL.

Pages are cut by `seq` (the creation time in µs, unique, see history_schema), newest first: the next
page starts strictly after the last row of this one, so there is no OFFSET scan, and images added
meanwhile (all newer) never shift a later page. With a search, the full-text index walks its matches
newest first and stops as soon as the page is full.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
PARAMS = ("limit", "cursor", "q", "model", "since", "until", "starred")
_TRUE = {"1", "true", "yes"}
_FALSE = {"0", "false", "no"}
_TOKEN = re.compile(r"\S+")


class QueryError(ValueError):
    """A bad filter value; `field` names the query parameter to blame."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


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


def fts_expression(text: str) -> str | None:
    """Free text → an FTS5 query: every word must occur; `word*` is a prefix. Never a syntax error."""
    terms = []
    for token in _TOKEN.findall(text):
        prefix = token.endswith("*")
        word = token.rstrip("*")
        if not word:
            continue
        terms.append('"' + word.replace('"', '""') + '"' + ("*" if prefix else ""))
    return " ".join(terms) or None


@dataclass(frozen=True)
class HistoryQuery:
    limit: int = DEFAULT_LIMIT
    cursor: int | None = None  # seq of the last row of the previous page
    q: str | None = None
    model: str | None = None
    since: int | None = None  # µs, inclusive
    until: int | None = None  # µs, inclusive
    starred: bool | None = None

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> HistoryQuery:
        """Validate query-string parameters; unknown ones are refused, not ignored."""
        unknown = sorted(set(params) - set(PARAMS))
        if unknown:
            raise QueryError(unknown[0], f"unknown parameter; known: {', '.join(PARAMS)}")
        limit = DEFAULT_LIMIT
        if "limit" in params:
            try:
                limit = int(params["limit"])
            except ValueError:
                raise QueryError("limit", "must be an integer") from None
            if not 1 <= limit <= MAX_LIMIT:
                raise QueryError("limit", f"must be between 1 and {MAX_LIMIT}")
        starred = None
        if "starred" in params:
            value = params["starred"].lower()
            if value not in _TRUE | _FALSE:
                raise QueryError("starred", "must be true or false")
            starred = value in _TRUE
        query = cls(
            limit=limit,
            cursor=decode_cursor(params["cursor"]) if params.get("cursor") else None,
            q=params.get("q") or None,
            model=params.get("model") or None,
            since=parse_bound("since", params["since"], end_of_day=False) if params.get("since") else None,
            until=parse_bound("until", params["until"], end_of_day=True) if params.get("until") else None,
            starred=starred,
        )
        if query.q is not None and fts_expression(query.q) is None:
            raise QueryError("q", "has no words to search for")
        return query

    def sql(self) -> tuple[str, list[object]]:
        """SELECT for this page, one row more than `limit` (its presence means there is a next page)."""
        # With a search the full-text index drives (CROSS JOIN keeps it the outer loop), newest first.
        key = "images_fts.rowid" if self.q is not None else "seq"
        where: list[str] = []
        args: list[object] = []
        if self.q is not None:
            where.append("images_fts MATCH ?")
            args.append(fts_expression(self.q))
        if self.model is not None:
            where.append("images.model = ?")
            args.append(self.model)
        if self.starred is not None:
            where.append("images.starred = ?")
            args.append(int(self.starred))
        for clause, value in ((f"{key} >= ?", self.since), (f"{key} <= ?", self.until),
                              (f"{key} < ?", self.cursor)):
            if value is not None:
                where.append(clause)
                args.append(value)
        source = "images_fts CROSS JOIN images ON images.seq = images_fts.rowid" if self.q else "images"
        clause = f"WHERE {' AND '.join(where)} " if where else ""
        args.append(self.limit + 1)
        return f"SELECT images.* FROM {source} {clause}ORDER BY {key} DESC LIMIT ?", args
