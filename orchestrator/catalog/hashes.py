"""Short sha256 hashes of model files (10 hex digits, as Fooocus writes in metadata).

Hashing a checkpoint reads gigabytes, so no request waits for one: after each scan a BackgroundHasher
(one daemon thread, one file at a time) hashes what is not known yet, and requests ask `known()`, which
answers from memory or says "not yet". A hash is kept keyed by (path, size, mtime): in memory, shared by
every catalog of the same folder in this process, and in a JSON file so a restart does not hash again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import tempfile
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from orchestrator.common.background import lower_thread_priority
from orchestrator.common.foreground import Foreground

if TYPE_CHECKING:
    from orchestrator.catalog.models import ModelFile

SHORT_HASH_LENGTH = 10
_CHUNK = 256 * 1024  # a piece takes ~0.15 ms to read and hash: the longest a request can meet it
# Files smaller than this are hashed by the scan itself: one short read each, and a catalog of small
# files (tiny embeddings, the tests' fake models) then knows every hash as soon as it is built.
INLINE_HASH_BYTES = 64 * 1024
# The background hasher rewrites the cache file at most this often, and when it runs out of files.
_SAVE_EVERY_S = 5.0
# The hasher thread's nice value: on a busy machine requests get the CPU first, and hashing still moves.
HASHER_NICE = 19
# Before each piece the background hasher waits for a moment without requests, at most this long: under a
# steady stream of requests it still hashes at least a piece per wait (12.5 MiB/s).
YIELD_MAX_S = 0.02

log = logging.getLogger("remgo.catalog")


AfterPiece = Callable[[int], object]


def _sha256_file(path: str, digest: Any, after_piece: AfterPiece | None) -> None:
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
            if after_piece is not None:
                after_piece(len(chunk))


def sha256_of(path: str, after_piece: AfterPiece | None = None) -> str:
    """Full hex sha256 of a file; of a folder, over its files' relative paths and bytes in sorted order.
    `after_piece(n)` is called after each piece of n bytes (the background hasher counts, then waits there for
    a quiet moment)."""
    digest = hashlib.sha256()
    if os.path.isdir(path):
        for dirpath, dirnames, filenames in os.walk(path):
            dirnames.sort()
            for f in sorted(filenames):
                full = os.path.join(dirpath, f)
                digest.update(os.path.relpath(full, path).replace(os.sep, "/").encode() + b"\0")
                _sha256_file(full, digest, after_piece)
    else:
        _sha256_file(path, digest, after_piece)
    return digest.hexdigest()


class HashCache:
    """Thread-safe; `cache_file` None keeps hashes in memory only. Catalogs use `shared()`."""

    _shared: ClassVar[weakref.WeakValueDictionary[str, HashCache]] = weakref.WeakValueDictionary()
    _shared_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, cache_file: Path | None = None) -> None:
        self._file = cache_file
        self._lock = threading.Lock()
        self._save_lock = threading.Lock()
        self._entries: dict[str, tuple[int, int, str]] = {}
        self._path_locks: dict[str, threading.Lock] = {}
        self._dirty = False
        if cache_file is not None:
            self._load(cache_file)

    @classmethod
    def shared(cls, cache_file: Path) -> HashCache:
        """This process's one cache of that file: two catalogs of one folder (the server's and a one-off
        check) share hashes and per-path locks, so neither hashes what the other is hashing."""
        key = os.path.abspath(cache_file)
        with cls._shared_lock:
            found = cls._shared.get(key)
            if found is None:
                found = cls._shared[key] = cls(Path(key))
            return found

    def _load(self, cache_file: Path) -> None:
        try:
            data = json.loads(cache_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return  # absent or damaged: hashes are recomputed, nothing is lost
        if isinstance(data, dict):
            for path, entry in data.items():
                if (isinstance(entry, list) and len(entry) == 3 and isinstance(entry[0], int)
                        and isinstance(entry[1], int) and isinstance(entry[2], str)):
                    self._entries[path] = (entry[0], entry[1], entry[2])

    def known(self, path: str, size: int, mtime_ns: int) -> str | None:
        """The hash of the file as it was scanned, if computed already; never reads the file."""
        with self._lock:
            hit = self._entries.get(path)
        return hit[2] if hit and hit[0] == size and hit[1] == mtime_ns else None

    def short_hash(self, path: str, size: int, mtime_ns: int, *, save: bool = True,
                   after_piece: AfterPiece | None = None) -> str:
        """The hash, computed now on a miss (blocking). Two threads asking for one path hash it once:
        the second waits for the first and reads its result."""
        with self._path_lock(path):
            value = self.known(path, size, mtime_ns)
            if value is None:
                value = sha256_of(path, after_piece)[:SHORT_HASH_LENGTH]
                with self._lock:
                    self._entries[path] = (size, mtime_ns, value)
                    self._dirty = True
        if save:
            self.save()
        return value

    def _path_lock(self, path: str) -> threading.Lock:
        with self._lock:
            return self._path_locks.setdefault(path, threading.Lock())

    def save(self) -> None:
        """Write the cache file if a hash was added since the last write."""
        if self._file is None:
            return
        with self._save_lock:  # one writer at a time, each writing the newest entries
            with self._lock:
                if not self._dirty:
                    return
                data = {k: list(v) for k, v in self._entries.items()}
                self._dirty = False
            try:
                self._file.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=self._file.parent, prefix=".hashes-", suffix=".tmp")
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    json.dump(data, f)
                os.replace(tmp, self._file)
            except OSError:
                pass  # a read-only catalog folder: the in-memory cache still serves this process


class BackgroundHasher:
    """Hashes the files of the latest scan on one daemon thread, one file at a time, in the order given.

    `submit` replaces what an earlier scan left waiting; a file being hashed meanwhile is finished, and the
    cache answers for it when the new pass reaches it, so rescans never start a second pass over the same
    files. The thread ends when nothing is left and the next `submit` starts one: an idle catalog holds none.
    With a `foreground`, the thread waits for a moment without requests before each piece (foreground.py).
    """

    def __init__(self, cache: HashCache, *, inline_below: int = INLINE_HASH_BYTES,
                 foreground: Foreground | None = None) -> None:
        self._cache = cache
        self._inline_below = inline_below
        self._foreground = foreground
        self._current_size = 0
        self._current_read = 0
        self._cond = threading.Condition()
        self._queue: deque[ModelFile] = deque()
        self._total = 0
        self._done = 0
        self._current: str | None = None
        self._pass = 0
        self._thread: threading.Thread | None = None
        self._closed = False

    def submit(self, models: Iterable[ModelFile]) -> None:
        """The latest scan's files: small ones are hashed now, on the caller's thread; the rest queued."""
        unique = list({m.path: m for m in models}.values())
        waiting: deque[ModelFile] = deque()
        for model in unique:
            if self._cache.known(model.path, model.size, model.mtime_ns) is not None:
                continue
            if model.size < self._inline_below:
                self._hash(model)
            else:
                waiting.append(model)
        self._cache.save()
        with self._cond:
            if self._closed:
                return
            self._pass += 1
            self._queue = waiting
            self._total, self._done = len(unique), len(unique) - len(waiting)
            if waiting and self._thread is None:
                self._thread = threading.Thread(target=self._run, name="remgo-hasher", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def _hash(self, model: ModelFile, after_piece: AfterPiece | None = None) -> None:
        try:
            self._cache.short_hash(model.path, model.size, model.mtime_ns, save=False, after_piece=after_piece)
        except OSError as exc:  # removed or unreadable since the scan: its hash stays unknown
            log.warning("cannot hash %s: %s", model.path, exc)

    def _run(self) -> None:
        lower_thread_priority(HASHER_NICE)
        saved = time.monotonic()
        while True:
            with self._cond:
                if self._closed or not self._queue:
                    self._thread = None
                    return
                model = self._queue.popleft()
                this_pass = self._pass
                self._current = model.name
                self._current_size, self._current_read = model.size, 0
            try:
                self._hash(model, self._after_piece)
            except Exception:  # a bug must not end hashing for the rest of the files
                log.exception("hashing %s failed", model.path)
            with self._cond:
                if this_pass == self._pass:
                    self._done += 1
                last = not self._queue
            if last or time.monotonic() - saved >= _SAVE_EVERY_S:
                self._cache.save()  # before the pass reads as finished: a waiter may read the file
                saved = time.monotonic()
            with self._cond:
                self._current = None
                self._cond.notify_all()

    def _after_piece(self, nbytes: int) -> None:
        self._current_read += nbytes
        if self._foreground is not None:
            self._foreground.wait_quiet(YIELD_MAX_S)

    def progress(self) -> dict[str, Any]:
        """`done` of `total` files of the latest scan have a known hash (or could not be read); `current`
        names the model being hashed now, `current_bytes` how much of its `current_size` is read."""
        with self._cond:
            busy = self._current is not None
            return {"done": self._done, "total": self._total, "current": self._current,
                    "current_bytes": self._current_read if busy else 0,
                    "current_size": self._current_size if busy else 0}

    def wait(self, timeout: float | None = None) -> bool:
        """Block until nothing is waiting or being hashed; False if `timeout` passed first."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._queue and self._current is None, timeout)

    def close(self) -> None:
        """Drop what is waiting; the thread ends after the file it is hashing."""
        with self._cond:
            self._closed = True
            self._queue.clear()
            self._cond.notify_all()
