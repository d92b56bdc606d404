"""Prompt styles in Fooocus's JSON format: a list of `{name, prompt, negative_prompt}`.

`{prompt}` in a style's prompt is replaced by the user's prompt. Names are normalized the way Fooocus
displays them, so a file written for Fooocus (or a name sent raw, like `sai-anime`) lands on the same style.

Where styles come from, later winning on a name (docs/styles.md):
1. remgo's own `styles/remgo_styles.json`, whose names never reuse one of Fooocus's;
2. Fooocus's `sdxl_styles` folders: of every model root that is a Fooocus install, then the copy
   `remgo styles import` keeps in `styles/fooocus/`; each read in Fooocus's own file order;
3. the other `styles/*.json` files, by name.
Fooocus's styles are listed first, in Fooocus's order, as a Fooocus user knows them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

import msgspec

# Names that are not entries of a style file.
PROMPT_EXPANSION = "Fooocus V2"
RANDOM_STYLE = "Random Style"
SPECIAL_STYLES = (PROMPT_EXPANSION, RANDOM_STYLE)
# Fooocus V2 rewrites the prompt with Fooocus's GPT-2 expansion model; no remgo kernel runs it.
PROMPT_EXPANSION_AVAILABLE = False

SHIPPED_STYLE_FILES = ("remgo_styles.json",)
# Fooocus reads these after every other file of its folder, in this order (modules/sdxl_styles.py).
FOOOCUS_STYLE_FILES = ("sdxl_styles_fooocus.json", "sdxl_styles_sai.json", "sdxl_styles_mre.json",
                       "sdxl_styles_twri.json", "sdxl_styles_diva.json", "sdxl_styles_marc_k3nt3l.json")
FOOOCUS_FOLDER = "sdxl_styles"  # inside a Fooocus install
IMPORTED_FOLDER = "fooocus"  # inside the catalog's styles folder: what `remgo styles import` copied

# Where a style came from, as GET /v1/styles says.
ORIGIN_REMGO = "remgo"
ORIGIN_FOOOCUS = "fooocus"
ORIGIN_USER = "user"


class Style(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    prompt: str = ""
    negative_prompt: str = ""
    source: str = ""  # file it came from
    origin: str = ORIGIN_USER

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
    """The catalog folder's own files: shipped first, then the others by name."""
    if not folder.is_dir():
        return []
    found = sorted((p for p in folder.glob("*.json") if p.is_file()), key=lambda p: p.name)
    shipped = [p for name in SHIPPED_STYLE_FILES for p in found if p.name == name]
    return shipped + [p for p in found if p not in shipped]


def _json_files(folder: Path) -> list[Path]:
    """Fooocus's walk: sub-folders before the files beside them, names compared case-insensitively."""
    subs, files = [], []
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name.casefold())
    except OSError:
        return []
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            subs.append(Path(entry.path))
        elif entry.is_file() and os.path.splitext(entry.name)[1].lower() == ".json":
            files.append(Path(entry.path))
    return [f for sub in subs for f in _json_files(sub)] + files


def fooocus_style_files(folder: Path) -> list[Path]:
    """A Fooocus `sdxl_styles` folder's files in the order Fooocus reads them: any extra file first,
    then its own six; on a duplicate name the later file wins, as in Fooocus."""
    if not folder.is_dir():
        return []
    found = _json_files(folder)
    own = [folder / name for name in FOOOCUS_STYLE_FILES if folder / name in found]
    return [p for p in found if p not in own] + own


def fooocus_styles_folder(root: Path) -> Path | None:
    """The `sdxl_styles` folder of a Fooocus install given as a model root (the install or its `models`)."""
    for base in (root, root.parent if root.name == "models" else None):
        if base is not None and (base / FOOOCUS_FOLDER).is_dir():
            return base / FOOOCUS_FOLDER
    return None


def parse_style_file(data: bytes, source: str, origin: str = ORIGIN_USER) -> list[Style]:
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
        styles.append(Style(name=name, prompt=e.prompt, negative_prompt=e.negative_prompt, source=source,
                            origin=origin))
    return styles


def _read(files: Iterable[tuple[Path, str]], origin: str, problems: list[str], where: str = "") -> list[Style]:
    """Every style of the files ((path, source name)), in file order; `where` prefixes problem lines."""
    styles: list[Style] = []
    for path, source in files:
        try:
            styles += parse_style_file(path.read_bytes(), source, origin)
        except (OSError, ValueError) as exc:
            problems.append(f"{where}{source} skipped: {exc}")
    return styles


def load_styles(folder: Path, fooocus_folders: Iterable[Path] = ()) -> tuple[dict[str, Style], list[str]]:
    """Every style, by display name, and a problem line per file that was skipped.

    `folder` is the catalog's styles folder; `fooocus_folders` are Fooocus `sdxl_styles` folders read in
    place (those of model roots). Later sources win on a name (see the module's docstring).
    """
    problems: list[str] = []
    own = style_files(folder)
    shipped = _read(((p, p.name) for p in own if p.name in SHIPPED_STYLE_FILES), ORIGIN_REMGO, problems,
                    "styles/")
    fooocus: list[Style] = []
    for place in fooocus_folders:
        fooocus += _read(((p, str(p)) for p in fooocus_style_files(place)), ORIGIN_FOOOCUS, problems)
    imported = fooocus_style_files(folder / IMPORTED_FOLDER)
    fooocus += _read(((p, p.relative_to(folder).as_posix()) for p in imported), ORIGIN_FOOOCUS, problems,
                     "styles/")
    user = _read(((p, p.name) for p in own if p.name not in SHIPPED_STYLE_FILES), ORIGIN_USER, problems,
                 "styles/")
    winner = {s.name: s for s in (*shipped, *fooocus, *user)}
    listed: dict[str, Style] = {}
    for style in (*fooocus, *shipped, *user):
        listed.setdefault(style.name, winner[style.name])
    return listed, problems


def dump_styles(styles: list[Style]) -> str:
    """A Fooocus-format JSON text for styles (used by tooling and the bench)."""
    return json.dumps([{"name": s.name, "prompt": s.prompt, "negative_prompt": s.negative_prompt}
                       for s in styles], indent=2, ensure_ascii=False)
