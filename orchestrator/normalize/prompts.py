"""Prompt text processing, in Fooocus's order: lines, inline LoRA tags, wildcards, `[[a,b]]` arrays, styles.

Pure functions over text; the catalog data they need (wildcard lists, styles) is passed in. Unlike
Fooocus, `<lora:…>` tags are taken from every positive line, not only the first, so none reaches CLIP.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence

from orchestrator.catalog.styles import Style

WILDCARD_RE = re.compile(r"__([\w-]+)__")
ARRAY_RE = re.compile(r"\[\[(.*?)\]\]")
# <lora:name:weight>, the weight optional (1.0); a name may hold sub-folders but no ':' or '<>'.
LORA_TAG_RE = re.compile(r"<lora:([^:<>]+?)(?::\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+))\s*)?>")
MAX_WILDCARD_DEPTH = 64  # nested wildcards are expanded this many rounds at most


def clean_line(text: str) -> str:
    """Runs of whitespace → one space; stray commas and spaces at either end removed."""
    return re.sub(r"\s+", " ", text).strip(" ,")


def split_lines(text: str) -> list[str]:
    """A prompt's non-empty lines, cleaned: the first is the main prompt, the rest extra chunks."""
    return [line for line in (clean_line(x) for x in text.splitlines()) if line]


def tidy_commas(text: str) -> str:
    """Comma-separated tokens trimmed, empty ones dropped, joined with ', ' (Fooocus's prompt cleanup)."""
    text = re.sub(r" +", " ", text)
    tokens = (t.strip() for t in re.sub(r",+", ",", text).split(","))
    return ", ".join(t for t in tokens if t)


def extract_lora_tags(text: str) -> tuple[str, list[tuple[str, float]]]:
    """Remove `<lora:name:w>` tags from a line; returns the line and the (name, weight) pairs in order."""
    found: list[tuple[str, float]] = []

    def take(m: re.Match) -> str:
        found.append((m.group(1).strip(), float(m.group(2)) if m.group(2) else 1.0))
        return ""

    stripped = LORA_TAG_RE.sub(take, text)
    return (tidy_commas(stripped) if found else text), found


def expand_wildcards(text: str, lists: Mapping[str, Sequence[str]], rng: random.Random, index: int,
                     in_order: bool, missing: set[str]) -> str:
    """`__name__` → an option of `name`: seeded by `rng`, or option `index` when read in order.

    Options may hold wildcards themselves; expansion stops after MAX_WILDCARD_DEPTH rounds. An unknown
    name becomes the plain word (as in Fooocus) and is added to `missing` so the caller can say so.
    """

    def pick(m: re.Match) -> str:
        name = m.group(1)
        options = lists.get(name)
        if not options:
            missing.add(name)
            return name
        return options[index % len(options)] if in_order else rng.choice(options)

    for _ in range(MAX_WILDCARD_DEPTH):
        if not WILDCARD_RE.search(text):
            break
        text = WILDCARD_RE.sub(pick, text)
    return text


def expand_arrays(text: str, index: int) -> str:
    """`[[a,b,c]]` → one item per image: image `index` walks every combination, the first array fastest."""
    arrays = [[item.strip() for item in m.group(1).split(",")] for m in ARRAY_RE.finditer(text)]
    if not arrays:
        return text
    total = 1
    for items in arrays:
        total *= len(items)
    rest = index % total
    chosen = []
    for items in arrays:
        chosen.append(items[rest % len(items)])
        rest //= len(items)
    picks = iter(chosen)
    return ARRAY_RE.sub(lambda m: next(picks), text)


def apply_styles(prompt: str, styles: Sequence[Style]) -> tuple[list[str], list[str]]:
    """Style chunks with `{prompt}` filled; the bare prompt goes first when no style has `{prompt}`."""
    positive: list[str] = []
    negative: list[str] = []
    placed = False
    for style in styles:
        p, n = style.apply(prompt)
        positive += p
        negative += n
        placed = placed or style.has_placeholder
    if not placed:
        positive = [prompt, *positive]
    return positive, negative


def non_empty(chunks: Sequence[str], default: str) -> list[str]:
    kept = [c for c in (c.strip() for c in chunks) if c]
    return kept or [default]


def build_chunks(prompt: str, negative: str, extra_positive: Sequence[str], extra_negative: Sequence[str],
                 styles: Sequence[Style]) -> tuple[list[str], list[str]]:
    """The positive and negative chunk lists a worker encodes: styles, then the user's negative, then extras."""
    pos, neg = apply_styles(prompt, styles)
    neg = [*neg, negative]
    return non_empty([*pos, *extra_positive], prompt), non_empty([*neg, *extra_negative], negative)


def pick_random_style(style_names: Sequence[str], rng: random.Random) -> str | None:
    return rng.choice(list(style_names)) if style_names else None

