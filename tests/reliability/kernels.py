"""Test kernels for the reliability suite (run as `--kernel tests/reliability/kernels.py:Name`).

- SelectiveFailureKernel: raises, or runs out of memory, only for tasks whose prompt asks for it.
- HangOnceKernel: on the first attempt at each image it reports one step, then hangs; every later
  attempt runs normally. Attempts are remembered as marker files in REMGO_TEST_MARK_DIR, so a
  respawned worker (a new process) knows the image was tried.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from tests.worker_kernels import ColorKernel, OutOfMemoryError


class HangOnceKernel(ColorKernel):
    name = "hang-once"

    def on_step(self, task, index: int, step: int) -> None:
        if step < 2:
            return
        # task ids are "<job task>.i<image>.<attempt>": the image is the part before the attempt number.
        image = task.task_id.rsplit(".", 1)[0]
        marker = Path(os.environ["REMGO_TEST_MARK_DIR"]) / image
        try:
            marker.touch(exist_ok=False)
        except FileExistsError:
            return  # tried before: this attempt runs through
        threading.Event().wait()


class SelectiveFailureKernel(ColorKernel):
    """Fails the tasks whose prompt says so: `[raise]` → a RuntimeError, `[oom]` → out of memory (named
    like torch's error, which the worker recognises by name). Every other task succeeds."""

    name = "selective-failure"

    def on_step(self, task, index: int, step: int) -> None:
        prompt = " ".join(task.positive)
        if "[raise]" in prompt:
            raise RuntimeError(f"kernel exploded at step {step}")
        if "[oom]" in prompt:
            raise OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
