"""One page of history: the filters a client may give, their validation, and the keyset SQL.

Pages are cut by (created, id), newest first: the next page starts strictly after the last row of
this one, so no OFFSET scan, and images added meanwhile (all newer) never shift a later page.
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


def db_time(moment: datetime) -> str:
    """A datetime as stored: UTC, fixed width, so that comparing text compares time (naive = local)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_bound(field: str, text: str, *, end_of_day: bool) -> str:
    """An ISO date or datetime from a query (naive means UTC) → stored form. A bare date `until`
    covers that whole day."""
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = datetime.combine(day, time(), tzinfo=UTC)
            if end_of_day:
                return db_time(moment + timedelta(days=1) - timedelta(microseconds=1))
            return db_time(moment)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise QueryError(field, f"{text!r} is not an ISO 8601 date or datetime") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return db_time(moment)


def encode_cursor(created: str, image_id: str) -> str:
    return base64.urlsafe_b64encode(f"{created}|{image_id}".encode()).decode().rstrip("=")


def decode_cursor(text: str) -> tuple[str, str]:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise QueryError("cursor", "not a cursor this server gave out") from None
    created, sep, image_id = raw.partition("|")
    if not sep or not image_id or len(created) != 27:
        raise QueryError("cursor", "not a cursor this server gave out")
    return created, image_id


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
    cursor: tuple[str, str] | None = None
    q: str | None = None
    model: str | None = None
    since: str | None = None
    until: str | None = None
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
        where: list[str] = []
        args: list[object] = []
        if self.q is not None:
            where.append("rowid IN (SELECT rowid FROM images_fts WHERE images_fts MATCH ?)")
            args.append(fts_expression(self.q))
        if self.model is not None:
            where.append("model = ?")
            args.append(self.model)
        if self.starred is not None:
            where.append("starred = ?")
            args.append(int(self.starred))
        if self.since is not None:
            where.append("created >= ?")
            args.append(self.since)
        if self.until is not None:
            where.append("created <= ?")
            args.append(self.until)
        if self.cursor is not None:
            where.append("(created, id) < (?, ?)")
            args.extend(self.cursor)
        clause = f"WHERE {' AND '.join(where)} " if where else ""
        args.append(self.limit + 1)
        return f"SELECT * FROM images {clause}ORDER BY created DESC, id DESC LIMIT ?", args
