"""The history index: one sqlite row per image (sqlite-utils, WAL), full-text search, keyset pages.

The database is an index of the files, never their only copy: `reconcile` rebuilds what is missing
from the metadata embedded in the images. Every call takes one lock, so the same History may be used
from the event loop and from worker threads.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from orchestrator.common.image_params import ImageParams
from orchestrator.store.history.query import HistoryQuery, encode_cursor, iso, micros
from orchestrator.store.history.rows import HistoryItem, new_image_id, params_columns, to_item
from orchestrator.store.history.schema import OUTPUTS_ROOT, migrate
from orchestrator.store.outputs import OutputStore, format_of, resolve_inside

DB_NAME = "history.db"
log = logging.getLogger(__name__)
# Told (root, relpaths) after rows under those paths were added, changed or removed (the daily log page).
Watcher = Callable[[int, list[str]], None]


class HistoryError(ValueError):
    """A bad argument to the history; the message starts with the field to blame."""


@dataclass(frozen=True)
class HistoryPage:
    items: list[HistoryItem]
    next_cursor: str | None


def default_db_path(outputs_dir: Path) -> Path:
    """Where the index lives unless configured: beside the images it indexes."""
    return Path(outputs_dir) / DB_NAME


class History:
    def __init__(self, db_path: Path, outputs: OutputStore) -> None:
        self.db_path = Path(db_path)
        self.outputs = outputs
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.db_path, check_same_thread=False, isolation_level=None, timeout=10)
        conn.row_factory = sqlite3.Row
        self.db = sqlite_utils.Database(conn)
        self.db.enable_wal()
        conn.execute("PRAGMA synchronous = NORMAL")  # durable at each checkpoint; WAL keeps it consistent
        self._lock = threading.RLock()
        self._watchers: list[Watcher] = []
        migrate(self.db)

    def watch(self, watcher: Watcher) -> None:
        """Call `watcher` after every change of rows; it runs on the writing thread, so it must be quick."""
        self._watchers.append(watcher)

    def _changed(self, rows: Iterable[tuple[int, str]]) -> None:
        by_root: dict[int, list[str]] = {}
        for root, path in rows:
            by_root.setdefault(root, []).append(path)
        for watcher in self._watchers:
            for root, paths in by_root.items():
                try:
                    watcher(root, paths)
                except Exception:  # a watcher's bug must not undo or fail the write it was told of
                    log.exception("history watcher failed")

    # -- writes ---------------------------------------------------------------------------------

    def add(self, *, relpath: str, job_id: str, params: ImageParams, width: int, height: int, fmt: str,
            created: datetime | None = None) -> str:
        """Index an image just written by OutputStore.save; returns its image id."""
        path = self.outputs.resolve(relpath)
        if path is None:
            raise HistoryError(f"relpath: {relpath!r} is not an image file inside {self.outputs.root}")
        row: dict[str, Any] = {
            "id": new_image_id(),
            "root": OUTPUTS_ROOT,
            "path": relpath,
            "job_id": job_id,
            "width": width,
            "height": height,
            "format": format_of(fmt),
            "size": path.stat().st_size,
            "source": "generated",
            "starred": 0,
            **params_columns(params),
        }
        # A reconcile running meanwhile may have indexed the file already: the richer row wins, but
        # the row keeps its place in the order.
        fixed = ("seq", "created", "id", "root", "path", "starred")
        updates = ", ".join(f"{c} = excluded.{c}" for c in row if c not in fixed)
        with self._lock, self._tx():
            self._place(row, micros(created or datetime.now(UTC)), set())
            sql = (f"INSERT INTO images ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)}) "
                   f"ON CONFLICT(root, path) DO UPDATE SET {updates} RETURNING id")
            image_id = self.db.execute(sql, list(row.values())).fetchall()[0][0]
        self._changed([(OUTPUTS_ROOT, relpath)])
        return image_id

    def _place(self, row: dict[str, Any], wanted: int, taken: set[int]) -> None:
        """Give `row` the first free seq at or after `wanted` (inside the write transaction)."""
        seq = wanted
        while seq in taken or self.db.execute("SELECT 1 FROM images WHERE seq = ?", [seq]).fetchone():
            seq += 1
        taken.add(seq)
        row["seq"], row["created"] = seq, iso(seq)

    def insert_rows(self, rows: Iterable[dict[str, Any]], batch: int = 500) -> int:
        """Bulk insert (reconcile, import); a row whose (root, path) is indexed already is skipped.
        Each row's `seq` is the wanted creation time in µs; columns a row lacks are stored as NULL."""
        with self._lock:
            columns = [r[1] for r in self.db.execute("PRAGMA table_info(images)")]
        sql = (f"INSERT INTO images ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)}) "
               "ON CONFLICT(root, path) DO NOTHING")
        added = 0
        pending: list[dict[str, Any]] = []
        for row in rows:
            pending.append(row)
            if len(pending) >= batch:
                added += self._insert_batch(sql, columns, pending)
                pending = []
        return added + self._insert_batch(sql, columns, pending)

    def _insert_batch(self, sql: str, columns: list[str], rows: list[dict[str, Any]]) -> int:
        if not rows:
            return 0
        with self._lock, self._tx():
            taken: set[int] = set()
            for row in rows:
                self._place(row, row["seq"], taken)
            # rowcount sums the rows each statement inserted (skipped ones count 0, triggers not at all).
            added = self.db.conn.executemany(sql, [[r.get(c) for c in columns] for r in rows]).rowcount
        if added:
            self._changed((r["root"], r["path"]) for r in rows)
        return added

    def set_starred(self, image_id: str, starred: bool) -> HistoryItem | None:
        with self._lock:
            self.db.execute("UPDATE images SET starred = ? WHERE id = ?", [int(starred), image_id])
            return self.get(image_id)

    def delete(self, ids: Iterable[str]) -> dict[str, list]:
        """Delete images, file first then row (a crash in between leaves a row reconcile removes)."""
        result: dict[str, list] = {"deleted": [], "missing": [], "failed": []}
        gone: list[tuple[int, str]] = []
        for image_id in dict.fromkeys(ids):
            with self._lock:
                row = self.row(image_id)
                if row is None:
                    result["missing"].append(image_id)
                    continue
                path = self.file_path(row)
                try:
                    if path is not None:
                        path.unlink(missing_ok=True)
                except OSError as exc:
                    result["failed"].append({"id": image_id, "error": f"cannot delete the file: {exc.strerror}"})
                    continue
                self.outputs.thumbnails.drop(self._thumb_key(row))
                self.db.execute("DELETE FROM images WHERE id = ?", [image_id])
                result["deleted"].append(image_id)
                gone.append((row["root"], row["path"]))
        self._changed(gone)
        return result

    def remove_rows(self, ids: list[str]) -> None:
        gone: list[tuple[int, str]] = []
        with self._lock, self._tx():
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                marks = ", ".join("?" for _ in chunk)
                found = self.db.execute(f"SELECT root, path FROM images WHERE id IN ({marks})", chunk)
                gone += found.fetchall()
            self.db.conn.executemany("DELETE FROM images WHERE id = ?", [[i] for i in ids])
        self._changed((root, path) for root, path in gone)

    def register_root(self, folder: Path) -> int:
        """The id of an external folder indexed in place (created on first use)."""
        folder = Path(folder).resolve()
        with self._lock:
            found = self.db.execute("SELECT id FROM roots WHERE path = ?", [str(folder)]).fetchone()
            if found:
                return found[0]
            cur = self.db.execute("INSERT INTO roots (path, added) VALUES (?, ?)",
                                  [str(folder), iso(micros(datetime.now(UTC)))])
            return cur.lastrowid

    # -- reads ----------------------------------------------------------------------------------

    def row(self, image_id: str) -> dict[str, Any] | None:
        with self._lock:
            found = self.db.execute("SELECT * FROM images WHERE id = ?", [image_id]).fetchone()
        return dict(found) if found else None

    def get(self, image_id: str) -> HistoryItem | None:
        found = self.row(image_id)
        return None if found is None else self.item(found)

    def page(self, query: HistoryQuery) -> HistoryPage:
        sql, args = query.sql()
        with self._lock:
            rows = [dict(r) for r in self.db.execute(sql, args).fetchall()]
        more = len(rows) > query.limit
        rows = rows[: query.limit]
        cursor = encode_cursor(rows[-1]["seq"]) if more else None
        return HistoryPage(items=[self.item(r) for r in rows], next_cursor=cursor)

    def count(self) -> int:
        with self._lock:
            return self.db.execute("SELECT count(*) FROM images").fetchone()[0]

    def paths(self, root: int) -> dict[str, str]:
        """relpath → image id of every row under one root."""
        with self._lock:
            return {p: i for i, p in self.db.execute("SELECT id, path FROM images WHERE root = ?", [root])}

    def folder_keys(self, folder: str) -> set[tuple[int, str]]:
        """(seq, relpath) of every row under one folder of the outputs root (a range of the (root, path)
        index, which holds seq too: no table reads)."""
        with self._lock:
            return {(s, p) for s, p in self.db.execute(
                "SELECT seq, path FROM images WHERE root = ? AND path >= ? AND path < ?",
                [OUTPUTS_ROOT, folder + "/", folder + "0"])}  # '0' follows '/' in code order

    def folder_rows(self, folder: str, seqs: Iterable[int]) -> list[dict[str, Any]]:
        """The full rows of `seqs` (looked up by primary key) that are under one folder of the outputs root."""
        wanted, rows = list(seqs), []
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            marks = ", ".join("?" for _ in chunk)
            with self._lock:
                found = self.db.execute(f"SELECT * FROM images WHERE seq IN ({marks})", chunk).fetchall()
            rows += [dict(r) for r in found if r["root"] == OUTPUTS_ROOT and r["path"].startswith(folder + "/")]
        return rows

    def roots(self) -> dict[int, Path]:
        with self._lock:
            return {i: Path(p) for i, p in self.db.execute("SELECT id, path FROM roots")}

    def root_path(self, root: int) -> Path | None:
        if root == OUTPUTS_ROOT:
            return self.outputs.root
        with self._lock:
            found = self.db.execute("SELECT path FROM roots WHERE id = ?", [root]).fetchone()
        return Path(found[0]) if found else None

    def file_path(self, row: dict[str, Any]) -> Path | None:
        """The file of a row, with the same safety checks as serving outputs; None if it is gone."""
        base = self.root_path(row["root"])
        return None if base is None else resolve_inside(base, row["path"])

    def thumbnail(self, row: dict[str, Any]) -> Path | None:
        source = self.file_path(row)
        return None if source is None else self.outputs.thumbnails.get(source, self._thumb_key(row))

    def item(self, row: dict[str, Any]) -> HistoryItem:
        if row["root"] == OUTPUTS_ROOT:
            url, thumb = self.outputs.url_for(row["path"]), self.outputs.thumb_url_for(row["path"])
        else:
            url, thumb = f"/v1/history/{row['id']}/file", f"/v1/history/{row['id']}/thumb"
        return to_item(row, url, thumb)

    # -- upkeep ---------------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self.db.conn.close()

    @staticmethod
    def _thumb_key(row: dict[str, Any]) -> str:
        return row["path"] if row["root"] == OUTPUTS_ROOT else f".roots/{row['root']}/{row['path']}"

    def _tx(self):
        return _Transaction(self.db.conn)


class _Transaction:
    """BEGIN IMMEDIATE … COMMIT, rolled back on error (the connection runs in autocommit mode)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type, exc, tb) -> None:
        self.conn.execute("COMMIT" if exc_type is None else "ROLLBACK")
