"""Checkpoints of a sqlite WAL database, off the threads that write it.

By default sqlite checkpoints inside the commit that pushes the WAL past 1000 pages: that commit copies the
WAL into the database file and fsyncs both, tens of milliseconds on an ordinary disk. When the commit is a
job submit on the event loop, every request waits for it. So the writing connection turns automatic
checkpoints off (`no_auto_checkpoints`) and a `Checkpointer` thread with its own connection checkpoints
once the WAL has grown, at a lower CPU priority. PASSIVE checkpoints never wait on writers or readers; what
a reader still needs is copied by a later pass.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

from orchestrator.common.background import BACKGROUND_NICE, lower_thread_priority

log = logging.getLogger("remgo.sqlite")
WAL_PAGES = 1000  # sqlite's own automatic threshold, kept: checkpoints only move off the writer's thread
WAL_SIZE_LIMIT = 8 * 2**20  # the WAL file is cut back to this after a checkpoint resets it
INTERVAL_S = 0.5


def no_auto_checkpoints(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA wal_autocheckpoint=0")
    conn.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")


class Checkpointer:
    """A daemon thread that checkpoints `path`'s WAL whenever it holds `pages` frames or more."""

    def __init__(self, path: str | Path, *, pages: int = WAL_PAGES, interval_s: float = INTERVAL_S) -> None:
        self.path = Path(path)
        self.pages = pages
        self.interval_s = interval_s
        self.passes = 0  # checkpoints that copied frames (for tests and metrics)
        self._frame = 4096 + 24
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"remgo-checkpoint-{self.path.stem}", daemon=True)
        self._thread.start()

    def _wal_pages(self) -> int:
        try:
            size = self.path.with_name(self.path.name + "-wal").stat().st_size
        except FileNotFoundError:
            return 0
        return max(0, size - 32) // self._frame  # a 32-byte header, then frames

    def _run(self) -> None:
        lower_thread_priority(BACKGROUND_NICE)
        conn = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        no_auto_checkpoints(conn)
        (page_size,) = conn.execute("PRAGMA page_size").fetchone()
        self._frame = page_size + 24  # a page and its frame header
        try:
            while not self._stop.wait(self.interval_s):
                if self._wal_pages() >= self.pages:
                    self.checkpoint(conn)
        finally:
            self.checkpoint(conn)
            conn.close()

    def checkpoint(self, conn: sqlite3.Connection) -> None:
        try:
            busy, frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as exc:  # a locked or closing database: the next pass tries again
            log.debug("checkpoint of %s skipped: %s", self.path, exc)
            return
        if copied > 0:
            self.passes += 1

    def close(self) -> None:
        """Stop after one last checkpoint (call before the writing connection closes)."""
        self._stop.set()
        self._thread.join(timeout=10)
