"""A minimal blocking client for a worker subprocess (tests, benches): frames in, frames out, with timeouts.

A reader thread sorts incoming frames into responses (by id), notifications, and lines that are not
valid frames (which a conforming worker never writes). A response's attachments (after `framing`) are read
right after its frame and kept in `attachments` by id.
"""

from __future__ import annotations

import json
import os
import queue
import shlex
import subprocess
import sys
import threading
import time
from typing import Any

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def default_worker_cmd() -> list[str]:
    return [sys.executable, "-m", "inference_worker"]


def worker_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.update(extra or {})
    return env


class WorkerClient:
    def __init__(self, cmd: list[str] | str, *args: str, env: dict[str, str] | None = None) -> None:
        argv = shlex.split(cmd) if isinstance(cmd, str) else list(cmd)
        threads = os.environ.get("REMGO_TEST_THREADS", "1")
        self.proc = subprocess.Popen(
            [*argv, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=REPO,
            env=worker_env({"OMP_NUM_THREADS": threads, **(env or {})}),
        )
        self.responses: dict[Any, dict] = {}
        self.notifications: list[dict] = []
        self.garbage: list[bytes] = []
        self.attachments: dict[Any, list[bytes]] = {}
        self.stderr_lines: list[bytes] = []
        self._cond = threading.Condition()
        self._next_id = 0
        self._events: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in iter(self.proc.stdout.readline, b""):
            try:
                frame = json.loads(line)
            except ValueError:
                frame = None
            with self._cond:
                if not isinstance(frame, dict) or frame.get("jsonrpc") != "2.0":
                    self.garbage.append(line)
                elif "method" in frame and "id" not in frame:
                    self.notifications.append(frame)
                else:
                    sizes = frame.get("attachments")
                    if isinstance(sizes, list):  # raw bytes follow the frame's newline
                        self.attachments[frame.get("id")] = [self.proc.stdout.read(n) for n in sizes]
                    self.responses[frame.get("id")] = frame
                self._cond.notify_all()

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in iter(self.proc.stderr.readline, b""):
            self.stderr_lines.append(line)

    # ----- sending ---------------------------------------------------------------------------------

    def send_raw(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def send(self, method: str, params: Any = None, *, rid: Any = None) -> Any:
        if rid is None:
            self._next_id += 1
            rid = self._next_id
        frame: dict[str, Any] = {"jsonrpc": "2.0", "id": rid, "method": method}
        if params is not None:
            frame["params"] = params
        self.send_raw(json.dumps(frame).encode() + b"\n")
        return rid

    def wait(self, rid: Any, timeout: float = 60.0) -> dict:
        deadline = time.monotonic() + timeout
        with self._cond:
            while rid not in self.responses:
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None and rid not in self.responses:
                    raise TimeoutError(f"no answer to request {rid!r}; stderr tail: {self.stderr_tail()}")
                self._cond.wait(min(left, 0.2))
            return self.responses.pop(rid)

    def call(self, method: str, params: Any = None, timeout: float = 60.0) -> dict:
        return self.wait(self.send(method, params), timeout)

    def wait_for(self, predicate, timeout: float = 60.0) -> dict:
        """The first notification satisfying `predicate` (waiting for it to arrive)."""
        deadline = time.monotonic() + timeout
        seen = 0
        with self._cond:
            while True:
                for note in self.notifications[seen:]:
                    if predicate(note):
                        return note
                seen = len(self.notifications)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no matching notification; stderr tail: {self.stderr_tail()}")
                self._cond.wait(min(left, 0.2))

    def progress_of(self, task_id: str) -> list[dict]:
        with self._cond:
            return [
                n["params"]
                for n in self.notifications
                if n["method"] == "progress" and n["params"]["task_id"] == task_id
            ]

    def stderr_tail(self, n: int = 15) -> str:
        return b"".join(self.stderr_lines[-n:]).decode("utf-8", "replace")

    def close(self, timeout: float = 20.0) -> int:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.close()
            except (BrokenPipeError, OSError):
                pass
            try:
                return self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return -9
        return self.proc.returncode

    def __enter__(self) -> WorkerClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
