"""The daily log page: `outputs/YYYY-MM-DD/log.html` lists every image of its date folder with its
parameters, newest first, as Fooocus's log page does; a static file that opens without a server.

It is written from the history index, whenever rows under a date folder change: an image made, deleted,
or found (or found gone) by a reconcile or an import, so the page stays right after deletions too.
History tells `changed` on whichever thread wrote, which only notes the folder; a thread of its own
writes the pages, so saving images never waits for one. A burst of changes becomes one write, and a page
is rewritten no faster than WRITE_RATE bytes a second allows (a day of thousands of images is megabytes).
Each entry is rendered once and kept for the latest days: a write reads the folder's (seq, path) keys
(an index range, no table reads), renders only rows it has not seen, drops those gone, and replaces the
file atomically (temp file, then rename). A log.html remgo did not write (Fooocus's, in a folder the two
share) is left alone; remgo's page goes to remgo-log.html beside it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator.common.background import BACKGROUND_NICE, lower_thread_priority
from orchestrator.store.daily_log_html import GENERATOR, entry_html, page_html
from orchestrator.store.history.schema import OUTPUTS_ROOT

if TYPE_CHECKING:
    from orchestrator.store.history.index import History

log = logging.getLogger("remgo.daily_log")
LOG_NAME = "log.html"
SHARED_LOG_NAME = "remgo-log.html"
DAY_FOLDER = re.compile(r"^\d{4}-\d{2}-\d{2}$")
SETTLE_SECONDS = 0.2  # changes arriving together (a job's images, a reconcile) make one write
WRITE_RATE = 8 * 1024 * 1024
MAX_GAP = 10.0  # however large a page, it is at most this many seconds behind the index
CACHED_DAYS = 2  # today, and yesterday around midnight


def day_of(relpath: str) -> str | None:
    """The date folder an image directly inside one belongs to (`YYYY-MM-DD/name`), else None."""
    parts = relpath.split("/")
    return parts[0] if len(parts) == 2 and DAY_FOLDER.match(parts[0]) else None


def is_ours(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return f'content="{GENERATOR}"'.encode() in fh.read(1024)
    except OSError:
        return False


def _drop_stale_temps(folder: Path) -> None:
    """Temp files of page writes a killed process left (the first write of a folder after a start)."""
    for name in (LOG_NAME, SHARED_LOG_NAME):
        for stale in folder.glob(f".{name}.*.tmp"):
            with contextlib.suppress(OSError):
                stale.unlink()


class DailyLog:
    def __init__(self, history: History, *, settle: float = SETTLE_SECONDS,
                 write_rate: float = WRITE_RATE) -> None:
        self.history = history
        self.root = history.outputs.root
        self.settle = settle
        self.write_rate = write_rate
        self._cond = threading.Condition()
        self._pending: dict[str, set[str]] = {}  # day → relpaths whose rows changed
        self._due: dict[str, float] = {}  # day → when (monotonic) its page may be written again
        # day → (seq, path) → the entry's html, for the latest CACHED_DAYS days
        self._entries: OrderedDict[str, dict[tuple[int, str], str]] = OrderedDict()
        self._write_lock = threading.Lock()
        self._failing: set[str] = set()  # days whose last write failed (said once, not on every image)
        self._thread: threading.Thread | None = None
        self._stopping = False
        history.watch(self.changed)

    # ----- told by History -----------------------------------------------------------------------

    def changed(self, root: int, paths: Iterable[str]) -> None:
        if root != OUTPUTS_ROOT:
            return
        with self._cond:
            for path in paths:
                day = day_of(path)
                if day is not None:
                    self._pending.setdefault(day, set()).add(path)
            if self._pending:
                self._cond.notify()

    # ----- the writing thread --------------------------------------------------------------------

    def start(self) -> None:
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="remgo-daily-log", daemon=True)
        self._thread.start()

    def close(self, timeout: float = 30.0) -> None:
        """Stop the thread and write what is still pending."""
        if self._thread is not None:
            with self._cond:
                self._stopping = True
                self._cond.notify()
            self._thread.join(timeout)
            self._thread = None
        self.flush()

    def flush(self) -> None:
        """Write every page with pending changes now, whatever WRITE_RATE says."""
        self._write_pending(only_due=False)

    def _run(self) -> None:
        lower_thread_priority(BACKGROUND_NICE)
        while True:
            with self._cond:
                while not self._stopping:
                    now = time.monotonic()
                    waits = [self._due.get(day, 0.0) - now for day in self._pending]
                    if waits and min(waits) <= 0:
                        break
                    self._cond.wait(min(waits) if waits else None)
                if self._stopping:
                    return
            time.sleep(self.settle)
            self._write_pending(only_due=True)

    def _write_pending(self, *, only_due: bool) -> None:
        with self._write_lock:
            with self._cond:
                now = time.monotonic()
                days = [d for d in self._pending if not only_due or self._due.get(d, 0.0) <= now]
                batch = {day: self._pending.pop(day) for day in days}
            for day, paths in sorted(batch.items()):
                started = time.monotonic()
                size = self._write_day(day, paths)
                with self._cond:
                    self._due[day] = started + min(MAX_GAP, size / self.write_rate)

    # ----- one page ------------------------------------------------------------------------------

    def _write_day(self, day: str, refresh: set[str]) -> int:
        try:
            return self._write_day_unguarded(day, refresh)
        except Exception as exc:  # noqa: BLE001 - a page is a convenience: never stop the thread over one
            if not isinstance(exc, OSError):
                self._entries.pop(day, None)  # next time from scratch
            if day not in self._failing:
                self._failing.add(day)
                log.warning("cannot write the log page of %s: %s", day, exc,
                            exc_info=not isinstance(exc, OSError))
            return 0

    def _write_day_unguarded(self, day: str, refresh: set[str]) -> int:
        folder = self.root / day
        if day not in self._entries:
            _drop_stale_temps(folder)
        keys = self.history.folder_keys(day)
        keys = {k for k in keys if day_of(k[1]) == day}  # not images in folders below the date folder
        entries = self._entries.get(day, {})
        for key in entries.keys() - keys:
            del entries[key]
        wanted = {seq for seq, path in keys if (seq, path) not in entries or path in refresh}
        if wanted:
            for row in self.history.folder_rows(day, wanted):
                entries[(row["seq"], row["path"])] = entry_html(row)
        self._entries[day] = entries
        self._entries.move_to_end(day)
        while len(self._entries) > CACHED_DAYS:
            self._entries.popitem(last=False)
        if not folder.is_dir():
            return 0  # the folder went away under its rows; the next reconcile drops them
        target = self._target(folder)
        # newest first; a row deleted since the keys were read has no entry
        shown = [entries[k] for k in sorted(keys, reverse=True) if k in entries]
        if not shown:
            for name in (LOG_NAME, SHARED_LOG_NAME):  # no image left: no page
                if is_ours(folder / name):
                    (folder / name).unlink(missing_ok=True)
            self._entries.pop(day, None)
            return 0
        text = page_html(day, len(shown), shown)
        data = text.encode("utf-8")
        tmp = folder / f".{target.name}.{secrets.token_hex(4)}.tmp"  # hidden: never indexed nor served
        try:
            tmp.write_bytes(data)
            os.replace(tmp, target)
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            raise
        if day in self._failing:
            self._failing.discard(day)
            log.info("the log page of %s is written again", day)
        return len(data)

    @staticmethod
    def _target(folder: Path) -> Path:
        page = folder / LOG_NAME
        return page if not page.exists() or is_ours(page) else folder / SHARED_LOG_NAME
