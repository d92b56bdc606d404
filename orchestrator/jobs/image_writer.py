"""The one writer of images: each image a worker returns is saved (write, fsync, rename) and its history row
added on one thread of its own, in arrival order, so neither stalls the event loop, OutputStore's free-name
check then rename never races, and outputs/ and history.db keep a single writer. No file is left without its
row: a row that cannot be added takes its file back."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from contract.events import ImageResult
from orchestrator.common.background import BACKGROUND_NICE, lower_thread_priority
from orchestrator.common.image_params import ImageParams


class OutputFailed(Exception):
    """An image could not be saved or indexed (`what`); `cause` says why."""

    def __init__(self, what: str, cause: Exception) -> None:
        super().__init__(what)
        self.what = what
        self.cause = cause


class ImageWriter:
    def __init__(self, outputs: Any, history: Any) -> None:
        self.outputs = outputs
        self.history = history
        # The thread yields the CPU to the event loop's thread (requests) when both want it.
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="remgo-writer",
                                          initializer=lower_thread_priority, initargs=(BACKGROUND_NICE,))

    async def save(self, job_id: str, params: ImageParams, image: ImageResult) -> tuple[str, int | str]:
        """(relpath, history id) of the saved image; OutputFailed saying which step failed."""
        return await asyncio.get_running_loop().run_in_executor(self._thread, self._save, job_id, params, image)

    def _save(self, job_id: str, params: ImageParams, image: ImageResult) -> tuple[str, int | str]:
        fmt = image.format.value
        try:
            relpath = self.outputs.save(image.data, fmt, job_id=job_id)
        except Exception as exc:  # noqa: BLE001 - OutputError, OSError
            raise OutputFailed("saved", exc) from exc
        try:
            history_id = self.history.add(relpath=relpath, job_id=job_id, params=params, width=image.width,
                                          height=image.height, fmt=fmt)
        except Exception as exc:  # noqa: BLE001 - HistoryError, sqlite3.Error (disk full, read-only)
            self.outputs.discard(relpath)  # the job says why
            raise OutputFailed("indexed", exc) from exc
        return relpath, history_id
