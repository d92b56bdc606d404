"""`remgo styles import PATH`: Fooocus's style files into this catalog, exactly as they are.

PATH is a Fooocus install, its `sdxl_styles` folder, or one style `.json` file. The files are checked (each
must be a list of `{name, prompt, negative_prompt}`) and copied byte for byte into
`<catalog_dir>/styles/fooocus/`; the user's own files are only read. Importing a folder replaces what an
earlier import copied; importing one file adds it (or replaces the file of that name). A copy, not a
reference: the catalog keeps working when the Fooocus folder moves or goes, and importing again takes up
Fooocus's changes. A running server is then asked to read its catalog again.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.catalog.styles import (
    FOOOCUS_FOLDER,
    IMPORTED_FOLDER,
    ORIGIN_FOOOCUS,
    fooocus_style_files,
    parse_style_file,
)
from orchestrator.cli.client import ClientError, ServerUnreachable
from orchestrator.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_REFUSED,
    connect,
    print_json,
    server_url,
)
from orchestrator.settings import SettingsError, load_settings


class ImportRefused(Exception):
    """Nothing was imported: the path is not a Fooocus install, style folder or style file."""


@dataclass
class Found:
    """The style files under PATH: (file, its name inside the imported folder), in Fooocus's order."""

    folder: Path | None  # the sdxl_styles folder, or None for a single file
    files: list[tuple[Path, str]] = field(default_factory=list)


def find_style_files(path: Path) -> Found:
    if not path.exists():
        raise ImportRefused(f"{path}: no such file or folder")
    if path.is_file():
        if path.suffix.lower() != ".json":
            raise ImportRefused(f"{path}: a style file is a .json file (Fooocus's sdxl_styles/*.json)")
        return Found(folder=None, files=[(path, path.name)])
    install = (path / FOOOCUS_FOLDER).is_dir()
    folder = path / FOOOCUS_FOLDER if install else path
    files = [(p, p.relative_to(folder).as_posix()) for p in fooocus_style_files(folder)]
    if not files:
        raise ImportRefused(f"{folder}: no style .json file in it" if install else
                            f"{path}: neither a Fooocus install (no {FOOOCUS_FOLDER} folder) nor a folder of "
                            "style .json files")
    return Found(folder=folder, files=files)


@dataclass
class Imported:
    into: Path
    files: list[str] = field(default_factory=list)  # names inside the imported folder
    styles: int = 0
    skipped: list[str] = field(default_factory=list)  # "file: why"


def _copy(source: Path, target: Path) -> None:
    """Byte for byte, through a temporary file, so a server scanning meanwhile never reads half a file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".import-", suffix=".tmp")
    os.close(fd)
    try:
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def import_styles(path: Path, catalog_dir: Path) -> Imported:
    """Check and copy; raises ImportRefused (nothing changed) when no file under `path` is a style file."""
    found = find_style_files(path)
    into = catalog_dir / "styles" / IMPORTED_FOLDER
    if into.exists() and found.folder is not None and into.resolve() == found.folder.resolve():
        raise ImportRefused(f"{path}: this is the imported copy itself")
    result = Imported(into=into)
    good: list[tuple[Path, str]] = []
    for file, name in found.files:
        try:
            result.styles += len(parse_style_file(file.read_bytes(), name, ORIGIN_FOOOCUS))
            good.append((file, name))
        except (OSError, ValueError) as exc:
            result.skipped.append(f"{file}: {exc}")
    if not good:
        raise ImportRefused("no style file could be read: " + "; ".join(result.skipped))
    if found.folder is not None and into.is_dir():  # a folder import is the whole set: the old copy goes
        for old in into.rglob("*.json"):
            old.unlink()
    for file, name in good:
        _copy(file, into / name)
        result.files.append(name)
    return result


def _tell_server(args: argparse.Namespace, imported: Imported) -> tuple[str, str]:
    """(state, line): whether a running server now offers the imported styles."""
    try:
        url = server_url(args)
        with connect(args) as client:
            client.rescan()
            styles = client.styles()
    except ServerUnreachable:
        return "not running", "no server is running; one started later reads them"
    except (ClientError, SettingsError) as exc:
        return "failed", f"the server could not be asked to read them: {exc}"
    sources = {f"{IMPORTED_FOLDER}/{name}" for name in imported.files}
    offered = sum(1 for s in styles if s.get("source") in sources)
    if not offered:
        return "other catalog", (f"the server at {url} offers none of them: it reads another catalog folder "
                                 f"than {imported.into.parent.parent}")
    return "rescanned", f"the server at {url} offers them now ({offered} styles from these files)"


def import_command(args: argparse.Namespace) -> int:
    if not args.path:
        print("remgo styles import: PATH is needed (a Fooocus install, its sdxl_styles folder or a .json file)",
              file=sys.stderr)
        return EXIT_REFUSED
    try:
        settings = load_settings(getattr(args, "config", None))
        imported = import_styles(Path(args.path).expanduser(), Path(settings.catalog_dir).resolve())
    except (SettingsError, ImportRefused) as exc:
        print(f"remgo styles import: {exc}; nothing imported", file=sys.stderr)
        return EXIT_REFUSED
    except OSError as exc:
        print(f"remgo styles import: {exc}", file=sys.stderr)
        return EXIT_FAILED
    state, line = _tell_server(args, imported)
    if args.json:
        print_json({"into": str(imported.into), "files": imported.files, "styles": imported.styles,
                    "skipped": imported.skipped, "server": state})
    else:
        print(f"imported {imported.styles} styles from {len(imported.files)} file(s) into {imported.into}: "
              f"{', '.join(imported.files)}")
        for skipped in imported.skipped:
            print(f"skipped {skipped}", file=sys.stderr)
        print(line, file=sys.stderr if state in ("failed", "other catalog") else sys.stdout)
    return EXIT_FAILED if imported.skipped or state in ("failed", "other catalog") else EXIT_OK


STYLES_USAGE = ("remgo styles [FILTER] [--json] [--server URL]\n"
                "       remgo styles import PATH   (a Fooocus install, its sdxl_styles folder or one .json file)")


def styles_command(list_styles: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """`remgo styles`: `import PATH`, else the listing with its optional FILTER."""

    def run(args: argparse.Namespace) -> int:
        if args.filter == "import":
            return import_command(args)
        if args.path is not None:
            print(f"remgo styles: one FILTER at most, got {args.filter!r} and {args.path!r} (to import: "
                  "remgo styles import PATH)", file=sys.stderr)
            return EXIT_REFUSED
        return list_styles(args)

    return run
