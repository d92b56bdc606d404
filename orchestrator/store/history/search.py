"""The history's `q`: FTS5 query syntax over prompts, negative prompts, styles and model names.

Every word must occur (`red fox`), `word*` is a prefix, `"a phrase"` keeps its words together, and
`AND`, `OR`, `NOT` and parentheses combine them (`fox OR lighthouse`, `fox NOT cartoon`); `styles:anime`
or `models:(juggernaut OR pony)` look in one column. Words are quoted before sqlite sees them, so the
commas and hyphens of a pasted prompt are plain text; what still does not parse (`fox OR`, a quote not
closed) is a QueryError naming `q`, never a server error.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterator

from orchestrator.common.query_params import QueryError
from orchestrator.store.history.schema import FTS_COLUMNS

OPERATORS = frozenset({"AND", "OR", "NOT"})
# Column names as a user may write them, → the index's columns.
COLUMNS = {**{c: c for c in FTS_COLUMNS}, "negative_prompt": "negative", "style": "styles", "model": "models",
           "loras": "models"}
SYNTAX = (f'words, "phrases", word*, AND / OR / NOT between terms, ( ) to group, and {", ".join(FTS_COLUMNS)}: '
          "to look in one column")

# An empty index with the same columns: sqlite parses a query there exactly as on the real one.
_checker = sqlite3.connect(":memory:", check_same_thread=False)
_checker.execute(f"CREATE VIRTUAL TABLE q USING fts5({', '.join(FTS_COLUMNS)})")
_checker_lock = threading.Lock()


def _tokens(text: str) -> Iterator[str]:
    """Parentheses, `"phrases"` (with `""` inside and an optional `*` after) and runs of anything else."""
    i = 0
    while i < len(text):
        c = text[i]
        if c.isspace():
            i += 1
        elif c in "()":
            yield c
            i += 1
        elif c == '"':
            j = text.find('"', i + 1)
            while j != -1 and text[j + 1 : j + 2] == '"':
                j = text.find('"', j + 2)
            if j == -1:
                raise QueryError("q", 'a "phrase" is not closed: add the closing quote')
            end = j + 2 if text[j + 1 : j + 2] == "*" else j + 1
            yield text[i:end]
            i = end
        else:
            j = i
            while j < len(text) and not text[j].isspace() and text[j] not in '()"':
                j += 1
            yield text[i:j]
            i = j


def _word(token: str) -> str | None:
    """A bare word as a quoted FTS5 string (`*` kept as a prefix mark); None for one without letters or digits."""
    prefix = token.endswith("*")
    word = token.rstrip("*")
    if not any(ch.isalnum() for ch in word):
        return None
    return '"' + word.replace('"', '""') + '"' + ("*" if prefix else "")


def fts_expression(text: str) -> str:
    """The FTS5 query for `text`; QueryError naming `q` when it has no words or does not parse."""
    parts: list[str] = []
    words = 0
    joined = False  # the last part ends an operand: a term, a phrase or `)`

    def operand(part: str, ends: bool) -> None:
        nonlocal joined
        if joined:  # FTS5 joins only plain terms by juxtaposition; `fox (a OR b)` needs the AND said
            parts.append("AND")
        parts.append(part)
        joined = ends

    for token in _tokens(text.replace("\x00", " ")):
        if token in OPERATORS or token == ")":
            parts.append(token)
            joined = token == ")"
        elif token == "(":
            operand(token, ends=False)
        elif token.startswith('"'):
            operand(token, ends=True)
            words += any(ch.isalnum() for ch in token)
        else:
            column, colon, rest = token.partition(":")
            if colon and column.lower() in COLUMNS:
                operand(f"{COLUMNS[column.lower()]} :", ends=False)
                token = rest
                if not token:  # the column applies to the phrase or group that follows
                    continue
            if (word := _word(token)) is not None:
                operand(word, ends=True)
                words += 1
    if not words:
        raise QueryError("q", "has no words to search for")
    expression = " ".join(parts)
    with _checker_lock:
        try:
            _checker.execute("SELECT 1 FROM q WHERE q MATCH ?", [expression]).fetchall()
        except sqlite3.OperationalError as exc:
            problem = re.sub(r'near ""$', "at the end", str(exc).removeprefix("fts5: "))
            raise QueryError("q", f"cannot be searched ({problem}); write {SYNTAX}") from None
        except UnicodeEncodeError:
            raise QueryError("q", "is not valid text (it holds a lone surrogate)") from None
    return expression
