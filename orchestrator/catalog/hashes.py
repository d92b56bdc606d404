"""Short sha256 hashes of model files (10 hex digits, as Fooocus writes in metadata).

Hashing a checkpoint reads gigabytes, so a hash is computed only when first asked for and is kept,
keyed by (path, size, mtime): in memory, and in a JSON file so a restart does not hash again.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

SHORT_HASH_LENGTH = 10
_CHUNK = 1 << 20


def _sha256_file(path: str, digest: Any) -> None:
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)


def sha256_of(path: str) -> str:
    """Full hex sha256 of a file; of a folder, over its files' relative paths and bytes in sorted order."""
    digest = hashlib.sha256()
    if os.path.isdir(path):
        for dirpath, dirnames, filenames in os.walk(path):
            dirnames.sort()
            for f in sorted(filenames):
                full = os.path.join(dirpath, f)
                digest.update(os.path.relpath(full, path).replace(os.sep, "/").encode() + b"\0")
                _sha256_file(full, digest)
    else:
        _sha256_file(path, digest)
    return digest.hexdigest()


class HashCache:
    """Thread-safe; `cache_file` None keeps hashes in memory only."""

    def __init__(self, cache_file: Path | None = None) -> None:
        self._file = cache_file
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[int, int, str]] = {}
        if cache_file is not None:
            self._load(cache_file)

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

    def short_hash(self, path: str, size: int, mtime_ns: int) -> str:
        with self._lock:
            hit = self._entries.get(path)
        if hit and hit[0] == size and hit[1] == mtime_ns:
            return hit[2]
        value = sha256_of(path)[:SHORT_HASH_LENGTH]
        with self._lock:
            self._entries[path] = (size, mtime_ns, value)
            self._save()
        return value

    def _save(self) -> None:
        if self._file is None:
            return
        try:
            self._file.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self._file.parent, prefix=".hashes-", suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump({k: list(v) for k, v in self._entries.items()}, f)
            os.replace(tmp, self._file)
        except OSError:
            pass  # a read-only catalog folder: the in-memory cache still serves this process
