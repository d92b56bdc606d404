"""The outputs folder: atomic image writes, dated paths, and the only safe way to look a path up.

The orchestrator is the only writer here. Files land as `YYYY-MM-DD/YYYY-MM-DD_HH-MM-SS_<short id>.<ext>`
(the layout Fooocus uses), written to a hidden temp file, fsynced, then renamed, so a reader or a crash
never sees half an image. The writer holds a lock on its temp file, so the temp of a killed process (the
lock went with it) is told from one being written and removed at the next start. Hidden names (temp files, the thumbnail cache) and anything that is not an
image (the databases) are never resolvable, so never served.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import time
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

from orchestrator.common import file_lock
from orchestrator.store.thumbnails import CACHE_DIR_NAME, Thumbnails

# Output format → file extension. `jpeg` keeps its full name, as Fooocus writes it.
EXTENSIONS = {"png": "png", "jpeg": "jpeg", "webp": "webp"}
# Extensions resolvable for serving and indexing (imports also meet `.jpg`).
IMAGE_SUFFIXES = frozenset({".png", ".jpeg", ".jpg", ".webp"})

_MAGIC = {
    "png": lambda b: b.startswith(b"\x89PNG\r\n\x1a\n"),
    "jpeg": lambda b: b.startswith(b"\xff\xd8\xff"),
    "webp": lambda b: b[:4] == b"RIFF" and b[8:12] == b"WEBP",
}
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TEMP = re.compile(r"^\.\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}_[0-9a-f]{12}\.tmp$")


class OutputError(Exception):
    """An image could not be written; the message says why (not writable, disk full, bad format)."""


def format_of(fmt: object) -> str:
    """`fmt` as a plain format name: accepts the contract's OutputFormat enum or its string value."""
    name = getattr(fmt, "value", fmt)
    if not isinstance(name, str) or name not in EXTENSIONS:
        raise OutputError(f"fmt: unknown output format {name!r}; expected one of {sorted(EXTENSIONS)}")
    return name


def _older_than(path: Path, seconds: float) -> bool:
    """A temp younger than this may be one whose writer has opened it and not yet locked it."""
    try:
        return time.time() - path.stat().st_mtime > seconds
    except OSError:
        return False


def is_image_name(name: str) -> bool:
    return not name.startswith(".") and Path(name).suffix.lower() in IMAGE_SUFFIXES


def _fsync_dir(path: Path) -> None:
    # Makes the rename itself durable; not every platform can open a directory.
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _reason(exc: OSError, where: Path) -> str:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"disk full while writing into {where}"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"outputs folder {where} is not writable ({exc.strerror})"
    return f"cannot write into {where}: {exc.strerror or exc}"


class OutputStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root).absolute()
        self.thumbnails = Thumbnails(self.root / CACHE_DIR_NAME)

    def save(self, data: bytes, fmt: str, *, job_id: str, now: datetime | None = None) -> str:
        """Write one encoded image atomically; returns its path relative to root with '/' separators."""
        name = format_of(fmt)
        if not _MAGIC[name](data):
            raise OutputError(f"fmt: the data is not a {name} file")
        now = now or datetime.now()
        day = now.strftime("%Y-%m-%d")
        folder = self.root / day
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(_reason(exc, folder)) from exc
        stamp = now.strftime("%Y-%m-%d_%H-%M-%S")
        tmp = folder / f".{stamp}_{secrets.token_hex(6)}.tmp"
        try:
            with open(tmp, "xb") as fh:
                file_lock.lock(fh.fileno())  # a new file: nobody else holds it
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            final = self._claim_name(folder, stamp, job_id, EXTENSIONS[name])
            os.replace(tmp, final)
        except OSError as exc:
            with contextlib.suppress(OSError):  # on a read-only folder even this unlink fails
                tmp.unlink(missing_ok=True)
            raise OutputError(_reason(exc, folder)) from exc
        _fsync_dir(folder)
        return f"{day}/{final.name}"

    def drop_dead_temps(self) -> list[str]:
        """Remove the temp files of saves a killed process left (their lock died with it); returns their
        paths relative to root. Temps being written by a live process, this one's or another's, stay."""
        dropped = []
        days = [d for d in self.root.iterdir() if _DAY.match(d.name) and d.is_dir()] if self.root.is_dir() else []
        for day in days:
            for temp in day.iterdir():
                if _TEMP.match(temp.name) and _older_than(temp, 1.0) and not file_lock.held_elsewhere(temp):
                    with contextlib.suppress(OSError):
                        temp.unlink()
                        dropped.append(f"{day.name}/{temp.name}")
        return dropped

    @staticmethod
    def _claim_name(folder: Path, stamp: str, job_id: str, ext: str) -> Path:
        # The short id: the job id's first letters (to find a job's files) and a random part that
        # keeps several images of one job within one second apart.
        prefix = "".join(c for c in job_id if c.isascii() and c.isalnum())[:4].lower()
        for _ in range(1000):
            candidate = folder / f"{stamp}_{prefix}{secrets.token_hex(4)[: 8 - len(prefix)]}.{ext}"
            if not candidate.exists():
                return candidate
        raise OSError(errno.EEXIST, f"no free file name for job {job_id}")

    def discard(self, relpath: str) -> None:
        """Remove an image `save` just wrote (its index row could not be written); best effort."""
        path = self.resolve(relpath)
        if path is not None:
            try:
                path.unlink()
            except OSError:
                pass  # reconcile indexes a file left behind

    def resolve(self, relpath: str) -> Path | None:
        """The file `relpath` names inside root, or None for anything that is not a servable image there."""
        return resolve_inside(self.root, relpath)

    def url_for(self, relpath: str) -> str:
        return "/outputs/" + quote(relpath, safe="/")

    def thumb_url_for(self, relpath: str) -> str:
        return "/thumbs/" + quote(relpath, safe="/")

    def thumbnail(self, relpath: str) -> Path | None:
        """The cached thumbnail of the image at `relpath` (made if needed), or None as for `resolve`."""
        source = self.resolve(relpath)
        return None if source is None else self.thumbnails.get(source, relpath)


def split_relpath(relpath: str) -> list[str] | None:
    """The '/'-separated parts of a relative path, or None when any part could leave or hide."""
    if not isinstance(relpath, str) or not relpath or "\x00" in relpath or "\\" in relpath:
        return None
    if relpath.startswith("/") or (len(relpath) > 1 and relpath[1] == ":"):
        return None
    parts = relpath.split("/")
    for part in parts:
        if part in ("", ".", "..") or part.startswith("."):
            return None
    return parts


def resolve_inside(root: Path, relpath: str) -> Path | None:
    """Safe lookup under any root: no traversal, no absolute paths, no hidden parts, no links out."""
    parts = split_relpath(relpath)
    if parts is None or not is_image_name(parts[-1]):
        return None
    candidate = root.joinpath(*parts)
    try:
        real_root = root.resolve(strict=True)
        real = candidate.resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if not real.is_relative_to(real_root) or not real.is_file():
        return None
    return real
