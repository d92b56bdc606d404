"""Prompt emphasis syntax → (text, weight) segments, the way Fooocus reads a prompt.

- `(words)` multiplies the enclosing weight by 1.1; nesting compounds: `((words))` = 1.21.
- `(words:1.3)` gives `words` the weight 1.3 outright: an explicit number replaces the enclosing
  weight instead of multiplying it (Fooocus's rule; A1111 multiplies).
- `\\(` and `\\)` are literal parentheses. A `)` with no opening one, and an opening one never closed,
  are kept as plain text.
- `(a:b)` whose tail is not a number is plain text `a:b` at ×1.1.

Pure text processing: no tokenizer, no torch.
"""

from __future__ import annotations

import re

EMPHASIS = 1.1
# Private-use stand-ins for escaped parentheses while the brackets are matched.
_OPEN, _CLOSE = "\ue000", "\ue001"
_NUMBER = re.compile(r"\s*[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\s*")

Segment = tuple[str, float]


def _escape(text: str) -> str:
    return text.replace("\\(", _OPEN).replace("\\)", _CLOSE)


def _unescape(text: str) -> str:
    return text.replace(_OPEN, "(").replace(_CLOSE, ")")


def _groups(text: str) -> list[str]:
    """Top-level pieces: plain runs and balanced `( … )` groups (brackets included)."""
    pieces: list[str] = []
    depth, start, plain = 0, 0, []
    for i, ch in enumerate(text):
        if ch == "(":
            if depth == 0:
                pieces.append("".join(plain))
                plain, start = [], i
            depth += 1
        elif ch == ")" and depth > 0:
            depth -= 1
            if depth == 0:
                pieces.append(text[start : i + 1])
        elif depth == 0:
            plain.append(ch)
    if depth > 0:  # never closed: the rest is plain text
        plain.append(text[start:])
    pieces.append("".join(plain))
    return [p for p in pieces if p]


def _parse(text: str, weight: float) -> list[Segment]:
    out: list[Segment] = []
    for piece in _groups(text):
        is_group = len(piece) >= 2 and piece[0] == "(" and piece[-1] == ")"
        if not is_group:
            out.append((piece, weight))
            continue
        inner, inner_weight = piece[1:-1], weight * EMPHASIS
        colon = inner.rfind(":")
        if colon > 0 and _NUMBER.fullmatch(inner[colon + 1 :]):
            inner, inner_weight = inner[:colon], float(inner[colon + 1 :])
        out += _parse(inner, inner_weight)
    return out


def parse_weights(text: str) -> list[Segment]:
    """`a (b:1.2) \\(c\\)` → [("a ", 1.0), ("b", 1.2), (" (c)", 1.0)]; adjacent equal weights merged."""
    merged: list[Segment] = []
    for piece, weight in _parse(_escape(text), 1.0):
        piece = _unescape(piece)
        if merged and merged[-1][1] == weight:
            merged[-1] = (merged[-1][0] + piece, weight)
        else:
            merged.append((piece, weight))
    return merged
