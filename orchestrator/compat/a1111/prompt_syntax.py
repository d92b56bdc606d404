"""AUTOMATIC1111's prompt syntax → remgo's, with the same weight on every word.

A1111 reads emphasis as: `(x)` ×1.1, `[x]` ÷1.1, `(x:w)` ×w, each multiplying the weights of the brackets
around it; `\\(` `\\)` `\\[` `\\]` `\\\\` are literal; a `)` or `]` with nothing open is text, and a bracket
never closed still weights everything after it. remgo (as Fooocus) reads `(x)` ×1.1 but `(x:w)` as w
outright, and gives `[`, `]` no weight. So the prompt is read here with A1111's rules into runs of one weight
each and written back as flat `(text:w)` groups: nothing is nested, so remgo gives each run exactly A1111's
weight. Newlines become spaces (A1111's tokenizer treats them as spaces; remgo would split the prompt into
chunks at them).

Prompt editing and alternation are read with A1111's grammar (its `prompt_parser`, as of its "new" prompt
editing timelines, the default since 1.6) into A1111's schedule of the prompt: `[from:to:when]`, `[to:when]`
(nothing before), `[from::when]` (nothing after), `when` with a decimal point a fraction of the steps and
without one a step number (int(), at most the steps; below 1 the change never acts before a step), `[a|b|…]`
the option (step − 1) mod n at every step, nested to any depth, `\\[` … literal. A prompt the grammar does
not take (a `|` outside brackets, a bracket of the nested kind left open, a trailing backslash) is one
prompt as written, as there. Each variant then gets the emphasis translation above. `BREAK` (a forced new
75-token window) and `AND` (composable prompts) are refused naming the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from orchestrator.common.field_error import FieldError

ROUND, SQUARE = 1.1, 1 / 1.1
# One token of A1111's emphasis grammar: an escape, a bracket, `:number)` closing a weighted group, or text.
_TOKEN = re.compile(r"\\[()\[\]\\]|\\|[(\[]|:\s*([+-]?[.\d]+)\s*\)|[)\]]|[^\\()\[\]:]+|:")
_BREAK = re.compile(r"\bBREAK\b")
_AND = re.compile(r"\bAND\b")


class PromptRefused(FieldError):
    pass


class _Fail(Exception):
    """The text is not a prompt of A1111's schedule grammar."""


@dataclass(frozen=True)
class _Scheduled:  # [before:after:when]; before None for `[after:when]`
    before: list | None
    after: list
    when: str


@dataclass(frozen=True)
class _Alternate:  # [a|b|…]
    options: list[list]


# A1111's `plain`: anything but brackets, colons and bars (a backslash takes the next character with it).
_PLAIN = re.compile(r"(?:[^\\\[\]():|]|\\.)+", re.S)
# `:` [whitespace] SIGNED_NUMBER [whitespace] `]`, the end of a scheduled group.
_WHEN = re.compile(r"\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*\]")


class _Parser:
    """Recursive descent over A1111's grammar. Outside any group a bracket or colon that opens nothing
    well-formed is text (its `start` rule); inside a group anything out of place fails the whole prompt."""

    def __init__(self, text: str) -> None:
        self.text, self.i = text, 0

    def sequence(self, stops: str, top: bool) -> list:
        text, out = self.text, []
        while self.i < len(text):
            ch = text[self.i]
            if ch in stops:
                return out
            if ch in "[(":
                start = self.i
                try:
                    out += self.group()
                except _Fail:
                    if not top:
                        raise
                    self.i = start + 1
                    out.append(ch)
            elif ch in ")]:" and top:
                out.append(ch)
                self.i += 1
            else:
                m = _PLAIN.match(text, self.i)
                if m is None:  # `|` where no alternation is open, a lone trailing backslash, `)` `]` `:` astray
                    raise _Fail
                out.append(m.group(0))
                self.i = m.end()
        if not top:
            raise _Fail  # a group left open
        return out

    def _take(self, ch: str) -> bool:
        if self.text.startswith(ch, self.i):
            self.i += 1
            return True
        return False

    def group(self) -> list:
        if self._take("("):  # emphasis: kept as text, weighed after scheduling
            first = self.sequence("):", False)
            if self._take(")"):
                return ["(", *first, ")"]
            self._take(":")
            second = self.sequence(")", False)
            self._take(")")
            return ["(", *first, ":", *second, ")"]
        self._take("[")
        first = self.sequence("]:|", False)
        if self._take("]"):
            return ["[", *first, "]"]
        if self.text.startswith("|", self.i):
            options = [first]
            while self._take("|"):
                options.append(self.sequence("]|", False))
            self._take("]")
            return [_Alternate(options)]
        self._take(":")
        if m := _WHEN.match(self.text, self.i):  # [to:when]
            self.i = m.end()
            return [_Scheduled(None, first, m.group(1))]
        second = self.sequence("]:", False)
        if not self._take(":") or (m := _WHEN.match(self.text, self.i)) is None:
            raise _Fail
        self.i = m.end()
        return [_Scheduled(first, second, m.group(1))]


def _when(number: str, steps: int) -> int:
    """A1111's step of a change: a decimal a fraction of the steps, an integer a step; at most `steps`."""
    value = float(number) * (steps if "." in number else 1)
    return int(max(-1.0, min(float(steps), value)))


def _changes(nodes: list, steps: int, found: set[int]) -> None:
    for node in nodes:
        if isinstance(node, _Scheduled):
            if (when := _when(node.when, steps)) >= 1:
                found.add(when)
            _changes(node.before or [], steps, found)
            _changes(node.after, steps, found)
        elif isinstance(node, _Alternate):
            found.update(range(1, steps + 1))
            for option in node.options:
                _changes(option, steps, found)


def _at(nodes: list, step: int, steps: int) -> str:
    out = []
    for node in nodes:
        if isinstance(node, _Scheduled):
            out.append(_at((node.before or []) if step <= _when(node.when, steps) else node.after, step, steps))
        elif isinstance(node, _Alternate):
            out.append(_at(node.options[(step - 1) % len(node.options)], step, steps))
        else:
            out.append(node)
    return "".join(out)


def prompt_schedule(text: str, steps: int) -> list[tuple[int, str]]:
    """A1111's schedule of one prompt over `steps` steps: [(until step, the prompt up to it)], ascending."""
    parser = _Parser(text)
    try:
        tree = parser.sequence("", True)
    except _Fail:
        return [(steps, text)]
    found = {steps}
    _changes(tree, steps, found)
    return [(step, _at(tree, step, steps)) for step in sorted(found)]


def joint_schedule(prompt: str, negative: str, steps: int) -> list[tuple[int, str, str]]:
    """Both prompts' schedules on their joint change points; neighbours that read alike merged (the later
    step kept), so a prompt that never changes gives one entry."""
    positive, negatives = prompt_schedule(prompt, steps), prompt_schedule(negative, steps)

    def at(schedule: list[tuple[int, str]], step: int) -> str:
        return next(text for until, text in schedule if step <= until)

    joint: list[tuple[int, str, str]] = []
    for step in sorted({s for s, _ in positive} | {s for s, _ in negatives}):
        entry = (step, at(positive, step), at(negatives, step))
        if joint and joint[-1][1:] == entry[1:]:
            joint[-1] = entry
        else:
            joint.append(entry)
    return joint


def check_syntax(text: str, field: str) -> None:
    """Refuse BREAK and AND."""
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
    check_syntax(text, field)
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
