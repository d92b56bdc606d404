"""Progress of jobs on a terminal: a rich bar per job (steps over the whole job, images done, ETA), or,
when stderr is not a terminal (a pipe, a log file), a plain line at each tenth and each finished image.
"""

from __future__ import annotations

import sys
import time
from typing import IO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return "ETA -:--:--"
    seconds = int(round(seconds))
    return f"ETA {seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class JobProgress:
    """One display for any number of jobs: `add(job_id, label)`, `update(job_id, progress, status)`, `close()`."""

    def __init__(self, stream: IO[str] | None = None, *, enabled: bool = True) -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled
        # Notes are file paths and server messages: printed as they are, no markup, digits not coloured.
        self.console = Console(file=self.stream, markup=False, highlight=False)
        self.rich = enabled and self.console.is_terminal
        self._bars: Progress | None = None
        self._tasks: dict[str, int] = {}
        self._plain: dict[str, dict] = {}
        if self.rich:
            self._bars = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("steps · {task.fields[images]}"), TimeRemainingColumn(), console=self.console,
            )
            self._bars.start()

    def add(self, job_id: str, label: str) -> None:
        if self._bars is not None:
            self._tasks[job_id] = self._bars.add_task(label, total=None, images="queued")
        elif self.enabled:
            self._plain[job_id] = {"label": label, "bucket": -1, "images": -1, "start": None}
            self._write(f"{label}: queued")

    def note(self, text: str) -> None:
        if self._bars is not None:
            self._bars.console.print(text)
        elif self.enabled:
            self._write(text)

    def update(self, job_id: str, progress: dict | None, status: str | None = None) -> None:
        p = progress or {}
        step, total = int(p.get("step") or 0), int(p.get("total") or 0)
        done, count = int(p.get("images_done") or 0), int(p.get("images_total") or 0)
        images = f"{done}/{count} images" + (f" · {status}" if status and status != "running" else "")
        if self._bars is not None and job_id in self._tasks:
            self._bars.update(self._tasks[job_id], completed=step, total=total or None, images=images)
        elif job_id in self._plain:
            self._plain_line(job_id, step, total, done, count, status)

    def _plain_line(self, job_id: str, step: int, total: int, done: int, count: int, status: str | None) -> None:
        state = self._plain[job_id]
        now = time.monotonic()
        if state["start"] is None and step > 0:
            state["start"] = (now, step)
        bucket = (10 * step // total) if total else 0
        final = status in ("succeeded", "failed", "cancelled")
        if (bucket, done, final) == (state["bucket"], state["images"], state.get("final", False)):
            return
        state["bucket"], state["images"], state["final"] = bucket, done, final
        eta = None
        if state["start"] and step > state["start"][1] and total:
            rate = (step - state["start"][1]) / max(1e-6, now - state["start"][0])
            eta = (total - step) / rate
        tail = status if final else _eta(eta)
        self._write(f"{state['label']}: step {step}/{total} · {done}/{count} images · {tail}")

    def _write(self, line: str) -> None:
        self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self._bars is not None:
            self._bars.stop()
            self._bars = None
