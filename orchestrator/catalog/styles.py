"""Prompt styles in Fooocus's JSON format: a list of `{name, prompt, negative_prompt}`.

`{prompt}` in a style's prompt is replaced by the user's prompt. Names are normalized the way Fooocus
displays them, so a file written for Fooocus (or a name sent raw, like `sai-anime`) lands on the same style.
"""

from __future__ import annotations

import json
from pathlib import Path

import msgspec

# Names that are not entries of a style file.
PROMPT_EXPANSION = "Fooocus V2"
RANDOM_STYLE = "Random Style"
SPECIAL_STYLES = (PROMPT_EXPANSION, RANDOM_STYLE)

# Loaded before every other file so that a user's files (e.g. Fooocus's sdxl_styles_*.json) win.
SHIPPED_STYLE_FILES = ("remgo_styles.json",)


class Style(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    prompt: str = ""
    negative_prompt: str = ""
    source: str = ""  # file it came from

    @property
    def has_placeholder(self) -> bool:
        return "{prompt}" in self.prompt

    def apply(self, positive: str) -> tuple[list[str], list[str]]:
        """The style's positive and negative chunks (one per line) with `{prompt}` filled in."""
        return self.prompt.replace("{prompt}", positive).splitlines(), self.negative_prompt.splitlines()


class _Entry(msgspec.Struct, kw_only=True):
    name: str
    prompt: str = ""
    negative_prompt: str = ""


_decoder = msgspec.json.Decoder(list[_Entry])


def normalize_style_name(name: str) -> str:
    """Fooocus's display form: hyphens → spaces, each word capitalized, then 3D / SAI / MRE / (S."""
    words = name.replace("-", " ").split(" ")
    text = " ".join(w[:1].upper() + w[1:].lower() for w in words)
    for old, new in (("3d", "3D"), ("Sai", "SAI"), ("Mre", "MRE"), ("(s", "(S")):
        text = text.replace(old, new)
    return text


def style_files(folder: Path) -> list[Path]:
    """Shipped files first, then the others by name: on a duplicate name the later file wins."""
    if not folder.is_dir():
        return []
    found = sorted((p for p in folder.glob("*.json") if p.is_file()), key=lambda p: p.name)
    shipped = [p for name in SHIPPED_STYLE_FILES for p in found if p.name == name]
    return shipped + [p for p in found if p not in shipped]


def parse_style_file(data: bytes, source: str) -> list[Style]:
    """Raises ValueError with a readable reason when the file is not a list of styles."""
    try:
        entries = _decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ValueError(str(exc)) from None
    styles = []
    for i, e in enumerate(entries):
        name = normalize_style_name(e.name.strip())
        if not name:
            raise ValueError(f"entry {i} has an empty name")
        if name in SPECIAL_STYLES:
            raise ValueError(f"entry {i}: {name!r} is a reserved name")
        styles.append(Style(name=name, prompt=e.prompt, negative_prompt=e.negative_prompt, source=source))
    return styles


def load_styles(folder: Path) -> tuple[dict[str, Style], list[str]]:
    """All styles of a folder, and a problem line per file that was skipped."""
    styles: dict[str, Style] = {}
    problems: list[str] = []
    for path in style_files(folder):
        try:
            parsed = parse_style_file(path.read_bytes(), path.name)
        except (OSError, ValueError) as exc:
            problems.append(f"styles/{path.name} skipped: {exc}")
            continue
        for style in parsed:
            styles[style.name] = style  # a later file's entry replaces an earlier one in place
    return styles, problems


def dump_styles(styles: list[Style]) -> str:
    """A Fooocus-format JSON text for styles (used by tooling and the bench)."""
    return json.dumps([{"name": s.name, "prompt": s.prompt, "negative_prompt": s.negative_prompt}
                       for s in styles], indent=2, ensure_ascii=False)
