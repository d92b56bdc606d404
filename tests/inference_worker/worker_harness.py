"""An in-process WorkerServer fed line by line, its frames captured: protocol tests without a subprocess."""

from __future__ import annotations

import io
import json
import threading
import time

from bench.harness.worker_kernels import WORKER_KERNELS
from inference_worker.kernel import KernelOptions
from inference_worker.server import WorkerServer
from inference_worker.stdio import FrameWriter


class Capture(io.RawIOBase):
    def __init__(self) -> None:
        self.frames: list[dict] = []
        self.cond = threading.Condition()

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        with self.cond:
            for line in bytes(data).splitlines():
                self.frames.append(json.loads(line))
            self.cond.notify_all()
        return len(data)


class Harness:
    def __init__(self, kernel: str = "ColorKernel", **options) -> None:
        self.out = Capture()
        spec = kernel if ":" in kernel else f"{WORKER_KERNELS}:{kernel}"
        self.server = WorkerServer(spec, KernelOptions(**options), FrameWriter(self.out))
        self.server._kernel_ready.wait(10)
        self._id = 0

    def send(self, method: str, params=None, rid=None) -> int:
        if rid is None:
            self._id += 1
            rid = self._id
        frame = {"jsonrpc": "2.0", "id": rid, "method": method}
        if params is not None:
            frame["params"] = params
        self.server.handle_line(json.dumps(frame).encode())
        return rid

    def raw(self, line: bytes) -> None:
        self.server.handle_line(line)

    def wait(self, rid, timeout: float = 20.0) -> dict:
        deadline = time.monotonic() + timeout
        with self.out.cond:
            while True:
                for f in self.out.frames:
                    if f.get("id") == rid and "method" not in f:
                        return f
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no answer to {rid}")
                self.out.cond.wait(0.1)

    def call(self, method: str, params=None, timeout: float = 20.0) -> dict:
        return self.wait(self.send(method, params), timeout)

    def progress(self, task_id: str) -> list[dict]:
        with self.out.cond:
            return [
                f["params"]
                for f in self.out.frames
                if f.get("method") == "progress" and f["params"]["task_id"] == task_id
            ]

    def wait_progress(self, task_id: str, pred, timeout: float = 20.0) -> dict:
        deadline = time.monotonic() + timeout
        with self.out.cond:
            while True:
                for p in [f["params"] for f in self.out.frames if f.get("method") == "progress"]:
                    if p["task_id"] == task_id and pred(p):
                        return p
                if time.monotonic() > deadline:
                    raise TimeoutError("no such progress")
                self.out.cond.wait(0.05)


def task(task_id: str = "t1", **fields) -> dict:
    base = {
        "task_id": task_id,
        "base_model": {"name": "m", "path": "/models/checkpoints/m.safetensors"},
        "width": 64,
        "height": 64,
        "seeds": [11, 12],
        "steps": 4,
        "positive": ["a red fox"],
    }
    base.update(fields)
    return base
