"""Wildcard word lists: `catalog/wildcards/**/*.txt`, one option per line, named by file stem.

`__color__` in a prompt is replaced by a line of `color.txt` (in any sub-folder, as Fooocus finds them).
"""

from __future__ import annotations

from pathlib import Path


def load_wildcards(folder: Path) -> tuple[dict[str, list[str]], list[str]]:
    """name → options (blank lines dropped), and a problem line per file not used."""
    lists: dict[str, list[str]] = {}
    problems: list[str] = []
    if not folder.is_dir():
        return lists, problems
    for path in sorted(folder.rglob("*.txt"), key=lambda p: p.relative_to(folder).as_posix()):
        rel = path.relative_to(folder).as_posix()
        if not path.is_file() or any(part.startswith(".") for part in path.relative_to(folder).parts):
            continue
        name = path.stem
        if name in lists:
            problems.append(f"wildcards/{rel} skipped: another file is already named {name}")
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"wildcards/{rel} skipped: {exc}")
            continue
        options = [line.strip() for line in text.splitlines() if line.strip()]
        if not options:
            problems.append(f"wildcards/{rel} skipped: no options")
            continue
        lists[name] = options
    return lists, problems
