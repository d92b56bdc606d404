"""A ZIP of chosen images, produced as a stream in constant memory.

`zipfile` writes to a sink that cannot seek, so each member is followed by a data descriptor and
nothing needs to go back and patch sizes; the sink is drained after every chunk. Images are stored,
not deflated: png/jpeg/webp are compressed already.
"""

from __future__ import annotations

import io
import time
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator.store.history.schema import OUTPUTS_ROOT

if TYPE_CHECKING:
    from orchestrator.store.history.index import History

CHUNK = 1 << 20
MAX_EXPORT = 10_000


class _Sink(io.RawIOBase):
    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:  # type: ignore[override]
        self._chunks.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data


def export_entries(history: History, ids: Iterable[str]) -> tuple[list[tuple[str, Path]], list[str]]:
    """(archive name, file) for each known id whose file exists, and the ids that are unknown or gone."""
    entries: list[tuple[str, Path]] = []
    missing: list[str] = []
    used: set[str] = set()
    for image_id in dict.fromkeys(ids):
        row = history.row(image_id)
        path = None if row is None else history.file_path(row)
        if row is None or path is None:
            missing.append(image_id)
            continue
        name = row["path"] if row["root"] == OUTPUTS_ROOT else f"imported/{row['root']}/{row['path']}"
        stem, dot, ext = name.rpartition(".")
        unique, n = name, 1
        while unique in used:
            unique, n = f"{stem}_{n}{dot}{ext}", n + 1
        used.add(unique)
        entries.append((unique, path))
    return entries, missing


def zip_stream(entries: list[tuple[str, Path]], chunk: int = CHUNK) -> Iterator[bytes]:
    """The ZIP archive of `entries`, in pieces of about `chunk` bytes. A file that vanished since the
    entries were chosen is left out."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, path in entries:
            try:
                src = open(path, "rb")
            except FileNotFoundError:
                continue
            with src:
                stamp = max(time.localtime(path.stat().st_mtime)[:6], (1980, 1, 1, 0, 0, 0))  # ZIP's epoch
                info = zipfile.ZipInfo(name, date_time=stamp)
                info.compress_type = zipfile.ZIP_STORED
                info.external_attr = 0o644 << 16  # rw-r--r-- when unpacked
                with archive.open(info, "w", force_zip64=True) as dest:
                    while block := src.read(chunk):
                        dest.write(block)
                        if data := sink.take():
                            yield data
    if data := sink.take():
        yield data
