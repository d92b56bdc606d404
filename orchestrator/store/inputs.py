"""The input store: the image files requests bring (Vary, Upscale, Inpaint), kept by content.

Each file is named by the sha256 of its bytes plus its extension (`<state_dir>/inputs/<sha256>.png`), so
the same file sent twice — inline, as an upload, or taken from the history — is kept once, and a job's
record names its inputs by hash instead of holding megabytes. Writes are atomic as in the outputs folder
(a hidden temp file, locked while written, fsynced, then renamed); the temp of a killed process is removed
when the store is next opened. Nothing is kept that has not passed input_checks.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import time
from pathlib import Path

from orchestrator.common import file_lock
from orchestrator.common.input_image import ResolvedImage
from orchestrator.store.input_checks import EXTENSIONS, check_decodes, read_header

SHA256 = re.compile(r"^[0-9a-f]{64}$")
_TEMP = re.compile(r"^\.[0-9a-f]{16}\.tmp$")


class InputMissing(LookupError):
    """No stored input image has that sha256."""


class InputStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root).absolute()
        self.drop_dead_temps()

    def put(self, data: bytes, field: str) -> ResolvedImage:
        """Check `data` (InputRefused naming `field`) and keep it; the same bytes again are not rewritten.
        Decodes the file once: call off the event loop."""
        header = read_header(data, field)
        sha256 = hashlib.sha256(data).hexdigest()
        existing = self.path(sha256)
        if existing is None:
            check_decodes(data, header, field)  # a stored file has passed this already
            self._write(data, self.root / f"{sha256}.{EXTENSIONS[header.format]}")
        else:
            with contextlib.suppress(OSError):  # sent again: its retention starts over (see prune)
                os.utime(existing)
        return ResolvedImage(sha256=sha256, width=header.width, height=header.height, format=header.format,
                             nbytes=len(data))

    def describe(self, sha256: str, field: str) -> ResolvedImage:
        """A stored file as `put` answered for it (InputMissing when there is none)."""
        data = self.read(sha256)
        header = read_header(data, field)
        return ResolvedImage(sha256=sha256, width=header.width, height=header.height, format=header.format,
                             nbytes=len(data))

    def read(self, sha256: str) -> bytes:
        path = self.path(sha256)
        if path is None:
            raise InputMissing(f"no input image with sha256 {sha256} in {self.root}")
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise InputMissing(f"the input image {sha256} was removed from {self.root}") from None

    def has(self, sha256: str) -> bool:
        return self.path(sha256) is not None

    def path(self, sha256: str) -> Path | None:
        """The stored file of `sha256`, or None (also for anything that is not a sha256)."""
        if not isinstance(sha256, str) or not SHA256.match(sha256):
            return None
        for ext in dict.fromkeys(EXTENSIONS.values()):
            candidate = self.root / f"{sha256}.{ext}"
            if candidate.is_file():
                return candidate
        return None

    def _write(self, data: bytes, final: Path) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".{secrets.token_hex(8)}.tmp"
        try:
            with open(tmp, "xb") as fh:
                file_lock.lock(fh.fileno())  # told from a killed writer's temp by drop_dead_temps
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, final)  # two writers of the same bytes: either rename leaves the same file
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            raise
        with contextlib.suppress(OSError):  # the rename itself made durable, where a folder can be opened
            fd = os.open(self.root, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def drop_dead_temps(self) -> list[str]:
        """Remove temp files whose writer died (its lock went with it); a live writer's temp stays."""
        dropped: list[str] = []
        if not self.root.is_dir():
            return dropped
        for temp in self.root.iterdir():
            if not _TEMP.match(temp.name) or file_lock.held_elsewhere(temp):
                continue
            with contextlib.suppress(OSError):
                if time.time() - temp.stat().st_mtime > 1.0:  # not one opened a moment ago and not yet locked
                    temp.unlink()
                    dropped.append(temp.name)
        return dropped

    def prune(self, keep: set[str], older_than: float) -> list[str]:
        """Remove stored files last sent more than `older_than` seconds ago whose sha256 is not in `keep`
        (the inputs of jobs still to run); returns their names."""
        removed: list[str] = []
        if not self.root.is_dir():
            return removed
        cutoff = time.time() - older_than
        for entry in self.root.iterdir():
            sha256 = entry.name.partition(".")[0]
            if not SHA256.match(sha256) or sha256 in keep or entry.name.startswith("."):
                continue
            with contextlib.suppress(OSError):
                if entry.stat().st_mtime < cutoff:
                    entry.unlink()
                    removed.append(entry.name)
        return removed
