"""AUTOMATIC1111's prompt syntax → remgo's, with the same weight on every word.

A1111 reads emphasis as: `(x)` ×1.1, `[x]` ÷1.1, `(x:w)` ×w, each multiplying the weights of the brackets
around it; `\\(` `\\)` `\\[` `\\]` `\\\\` are literal; a `)` or `]` with nothing open is text, and a bracket
never closed still weights everything after it. remgo (as Fooocus) reads `(x)` ×1.1 but `(x:w)` as w
outright, and gives `[`, `]` no weight. So the prompt is read here with A1111's rules into runs of one weight
each and written back as flat `(text:w)` groups: nothing is nested, so remgo gives each run exactly A1111's
weight. Newlines become spaces (A1111's tokenizer treats them as spaces; remgo would split the prompt into
chunks at them).

What needs a per-step conditioning schedule, which the kernel does not have yet, is refused naming the
field: prompt editing `[from:to:when]`, `[to:when]`, `[from::when]`, alternation `[a|b]`; so are `BREAK`
(a forced new 75-token window) and `AND` (composable prompts).
"""

from __future__ import annotations

import re

from orchestrator.common.field_error import FieldError

ROUND, SQUARE = 1.1, 1 / 1.1
# One token of A1111's emphasis grammar: an escape, a bracket, `:number)` closing a weighted group, or text.
_TOKEN = re.compile(r"\\[()\[\]\\]|\\|[(\[]|:\s*([+-]?[.\d]+)\s*\)|[)\]]|[^\\()\[\]:]+|:")
_BREAK = re.compile(r"\bBREAK\b")
_AND = re.compile(r"\bAND\b")
_NUMBER = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)\s*")


class PromptRefused(FieldError):
    pass


def _square_groups(text: str) -> list[str]:
    """The contents of each `[ … ]` group (outermost first, then nested ones), escapes skipped."""
    found, stack, i = [], [], 0
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "[":
            stack.append(i)
        elif ch == "]" and stack:
            found.append(text[stack.pop() + 1 : i])
        i += 1
    return found


def _top_level(inner: str, sep: str) -> list[str]:
    """`inner` split at `sep` outside nested brackets."""
    parts, depth, start, i = [], 0, 0, 0
    while i < len(inner):
        ch = inner[i]
        if ch == "\\":
            i += 2
            continue
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth = max(0, depth - 1)
        elif ch == sep and depth == 0:
            parts.append(inner[start:i])
            start = i + 1
        i += 1
    return [*parts, inner[start:]]


def check_schedules(text: str, field: str) -> None:
    """Refuse what needs a per-step conditioning schedule, and BREAK / AND."""
    for inner in _square_groups(text):
        if len(_top_level(inner, "|")) > 1:
            raise PromptRefused(field, f"alternation [{inner}] switches the prompt every step; that needs a "
                                       "per-step conditioning schedule, which is not run yet")
        parts = _top_level(inner, ":")
        if len(parts) in (2, 3) and _NUMBER.fullmatch(parts[-1]):
            raise PromptRefused(field, f"prompt editing [{inner}] changes the prompt at a step; that needs a "
                                       "per-step conditioning schedule, which is not run yet")
    if _BREAK.search(text):
        raise PromptRefused(field, "BREAK (start a new 75-token window) is not run here; remove it")
    if _AND.search(text):
        raise PromptRefused(field, "AND (composable prompts) is not run here; remove it")


def weighted_runs(text: str) -> list[tuple[str, float]]:
    """A1111's reading of the emphasis: runs of text, each with its weight; neighbours of one weight merged."""
    runs: list[list] = []
    round_open: list[int] = []
    square_open: list[int] = []

    def scale(start: int, factor: float) -> None:
        for run in runs[start:]:
            run[1] *= factor

    for m in _TOKEN.finditer(text):
        token, number = m.group(0), m.group(1)
        if token.startswith("\\"):  # an escape is its character; a lone backslash is dropped (as in A1111)
            runs.append([token[1:], 1.0])
        elif token == "(":
            round_open.append(len(runs))
        elif token == "[":
            square_open.append(len(runs))
        elif number is not None and round_open:
            try:
                factor = float(number)
            except ValueError:  # `[.\d]+` also matches "1.2.3": A1111 fails there; here it is text
                runs.append([token, 1.0])
                continue
            scale(round_open.pop(), factor)
        elif token == ")" and round_open:
            scale(round_open.pop(), ROUND)
        elif token == "]" and square_open:
            scale(square_open.pop(), SQUARE)
        else:
            runs.append([token, 1.0])
    for start in round_open:
        scale(start, ROUND)
    for start in square_open:
        scale(start, SQUARE)
    merged: list[tuple[str, float]] = []
    for piece, weight in runs:
        if merged and merged[-1][1] == weight:
            merged[-1] = (merged[-1][0] + piece, weight)
        else:
            merged.append((piece, weight))
    return merged


def _escaped(text: str) -> str:
    return text.replace("(", "\\(").replace(")", "\\)")


def to_remgo(text: str, field: str) -> str:
    """An A1111 prompt as remgo's prompt with the same per-word weights; PromptRefused naming `field`."""
    check_schedules(text, field)
    text = text.replace("\r\n", " ").replace("\n", " ").replace("\r", " ")
    out = []
    for piece, weight in weighted_runs(text):
        if weight == 1.0:
            out.append(_escaped(piece))
        elif piece.strip():
            out.append(f"({_escaped(piece)}:{weight!r})")
        else:
            out.append(piece)  # whitespace weighs nothing in the tokenizer
    return "".join(out)
