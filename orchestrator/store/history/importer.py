"""`remgo history import PATH`: index an existing Fooocus or RemGo outputs folder.

Both keep images in date folders (`YYYY-MM-DD/…`) or flat in the folder, with metadata embedded in
either scheme. RemGo also kept a sqlite `metadata.db` beside them: table `images` with `filename`
(the bare file name), `created_at` and `metadata` (a JSON object keyed like Fooocus's log: `prompt`,
`negative_prompt`, `base_model`, `seed`, …); it fills in for images that embed nothing.

By default files stay where they are (the folder is registered as a root and indexed in place);
`copy=True` copies them into outputs/ under their date folder instead.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.store.history.rows import NAME_TIME
from orchestrator.store.history.scan import index_new_files, walk_images
from orchestrator.store.history.schema import OUTPUTS_ROOT

if TYPE_CHECKING:
    from orchestrator.store.history.index import History

log = logging.getLogger(__name__)
REMGO_DB_NAME = "metadata.db"


class HistoryImportError(ValueError):
    """The folder cannot be imported; the message says why."""


def read_remgo_db(path: Path) -> dict[str, str]:
    """RemGo's metadata.db → {file name: metadata text (sorted-key JSON, the fooocus scheme)}."""
    if not path.is_file():
        return {}
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        log.warning("cannot open %s: %s", path, exc)
        return {}
    texts: dict[str, str] = {}
    try:
        for filename, raw in conn.execute("SELECT filename, metadata FROM images"):
            try:
                value: Any = json.loads(raw) if isinstance(raw, str) else None
            except ValueError:
                continue
            if isinstance(filename, str) and isinstance(value, dict):
                texts[filename] = json.dumps(value, sort_keys=True)
    except sqlite3.DatabaseError as exc:
        log.warning("%s is not a RemGo metadata database: %s", path, exc)
    finally:
        conn.close()
    return texts


def _date_folder(rel: str, source: Path) -> str:
    parts = rel.split("/")
    match = NAME_TIME.match(parts[-1])
    if match:
        return "-".join(match.groups()[:3])
    if len(parts) > 1 and len(parts[-2]) == 10 and parts[-2][4] == "-" == parts[-2][7]:
        return parts[-2]
    return datetime.fromtimestamp(source.stat().st_mtime).strftime("%Y-%m-%d")


def _same_file(a: Path, b: Path) -> bool:
    if a.stat().st_size != b.stat().st_size:
        return False
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            ca, cb = fa.read(1 << 20), fb.read(1 << 20)
            if ca != cb:
                return False
            if not ca:
                return True


def _copy_in(source: Path, outputs_root: Path, rel: str) -> tuple[str, bool]:
    """Copy one image under outputs/<date>/; returns (its relpath there, whether bytes were copied)."""
    day = _date_folder(rel, source)
    name = rel.rsplit("/", 1)[-1]
    folder = outputs_root / day
    folder.mkdir(parents=True, exist_ok=True)
    stem, dot, ext = name.rpartition(".")
    for n in range(1000):
        candidate = name if n == 0 else f"{stem}_{n}{dot}{ext}"
        target = folder / candidate
        if target.exists():
            if _same_file(source, target):
                return f"{day}/{candidate}", False
            continue
        tmp = folder / f".{candidate}.{secrets.token_hex(4)}.tmp"
        try:
            shutil.copy2(source, tmp)
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        return f"{day}/{candidate}", True
    raise OSError(f"no free name for {name} in {folder}")


def import_folder(history: History, folder: Path, *, copy: bool = False) -> dict:
    """Index every image under `folder`; returns counts (found, added, already, unreadable, copied)."""
    folder = Path(folder).resolve()
    if not folder.is_dir():
        raise HistoryImportError(f"path: {folder} is not a folder")
    texts = read_remgo_db(folder / REMGO_DB_NAME)
    found = sorted(walk_images(folder))
    outputs_root = history.outputs.root.resolve()
    inside = folder == outputs_root or folder.is_relative_to(outputs_root)
    copied = 0
    if inside:
        # Already under outputs/: nothing to copy, index under the outputs root itself.
        prefix = folder.relative_to(outputs_root).as_posix()
        by_rel = {(f"{prefix}/{r}" if prefix != "." else r): r for r in found}
        root, base = OUTPUTS_ROOT, outputs_root
    elif copy:
        by_rel = {}
        for rel in found:
            try:
                target, did_copy = _copy_in(folder.joinpath(*rel.split("/")), outputs_root, rel)
            except OSError as exc:
                raise HistoryImportError(f"copy: cannot copy {rel} into {outputs_root}: {exc}") from exc
            by_rel[target] = rel
            copied += did_copy
        root, base = OUTPUTS_ROOT, outputs_root
    else:
        root, base = history.register_root(folder), folder
        by_rel = {r: r for r in found}
    known = history.paths(root)
    new = sorted(r for r in by_rel if r not in known)
    fallback = {r: texts[name] for r in new if (name := by_rel[r].rsplit("/", 1)[-1]) in texts}
    added, unreadable = index_new_files(history, root, base, new, source="imported", texts=fallback)
    return {
        "found": len(found),
        "added": added,
        "already": len(by_rel) - len(new),
        "unreadable": unreadable,
        "copied": copied,
        "metadata_db_rows": len(texts),
        "root": str(base),
    }
