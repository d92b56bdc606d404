"""Bringing the history index and the files back in step (on start, and on demand).

Files without rows are indexed from their embedded metadata; rows without files are dropped. Files
are only ever read here. A folder imported in place that is missing as a whole (an unplugged disk)
keeps its rows.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator.store.history.rows import file_row
from orchestrator.store.history.schema import OUTPUTS_ROOT
from orchestrator.store.outputs import is_image_name, resolve_inside, split_relpath

if TYPE_CHECKING:
    from orchestrator.store.history.index import History

log = logging.getLogger(__name__)


def walk_images(base: Path) -> Iterator[str]:
    """Relative paths ('/'-joined) of the image files under `base`; hidden entries and links skipped."""
    stack = [(Path(base), "")]
    while stack:
        folder, prefix = stack.pop()
        try:
            entries = os.scandir(folder)
        except OSError:
            continue
        with entries:
            for entry in entries:
                if entry.name.startswith(".") or entry.is_symlink():
                    continue
                rel = prefix + entry.name
                if entry.is_dir(follow_symlinks=False):
                    stack.append((Path(entry.path), rel + "/"))
                elif is_image_name(entry.name) and split_relpath(rel) and entry.is_file(follow_symlinks=False):
                    yield rel


def index_new_files(history: History, root: int, base: Path, relpaths: list[str], *, source: str,
                    texts: dict[str, str] | None = None) -> tuple[int, int]:
    """Index files not yet in the history; returns (added, unreadable). `texts` maps a relpath to
    metadata text to use when the file embeds none (RemGo's metadata.db)."""
    unreadable = 0

    def rows():
        nonlocal unreadable
        for rel in relpaths:
            fallback = (texts or {}).get(rel)
            try:
                yield file_row(root, base, rel, source=source, fallback_text=fallback)
            except (OSError, ValueError) as exc:
                unreadable += 1
                log.warning("not indexed, unreadable image %s: %s", rel, exc)

    added = history.insert_rows(rows())
    return added, unreadable


def reconcile(history: History) -> dict:
    base = history.outputs.root
    for temp in history.outputs.drop_dead_temps():
        log.info("removed %s, left by a save that did not finish", temp)
    known = history.paths(OUTPUTS_ROOT)
    present = base.is_dir()  # a missing outputs folder (unmounted?) keeps its rows, like any root
    on_disk = set(walk_images(base)) if present else set()
    gone = [known[p] for p in known.keys() - on_disk] if present else []
    added, unreadable = index_new_files(history, OUTPUTS_ROOT, base, sorted(on_disk - known.keys()),
                                        source="reconciled")
    missing_roots = 0 if present else 1
    for root, folder in history.roots().items():
        if not folder.is_dir():
            missing_roots += 1
            continue
        gone.extend(i for rel, i in history.paths(root).items() if resolve_inside(folder, rel) is None)
    history.remove_rows(gone)
    result = {"added": added, "removed": len(gone), "unreadable": unreadable, "missing_roots": missing_roots}
    if added or gone or unreadable:
        log.info("history reconciled: %s", result)
    return result
