"""A worker executable that breaks the protocol on purpose: `python fake_worker.py MODE`.

Standard library only, so it starts in milliseconds. Modes:
- exit-at-start: writes a line to stderr and exits with code 3 before reading anything.
- garbage: answers every line with bytes that are not JSON (and some invalid UTF-8).
- half-line: writes half a frame with no newline, then waits until stdin closes.
- huge-line: writes one line of HUGE_BYTES (env REMGO_FAKE_HUGE_BYTES, default 32 MiB) of 'x'.
- endless-line: writes 'x' without ever a newline, until the pipe breaks.
- bad-health: answers `health` with a result of the wrong shape.
- wrong-version: answers `health` as a ready worker of contract version 999.
- crash-mid-task: a healthy worker that, on `generate`, writes garbage and half a frame, then exits.
- bad-result: a healthy worker whose `generate` answer is not a TaskResult.
- instant: a healthy worker that answers every `generate` at once with a 1x1 PNG per seed.
- cut-attachments: takes attachments when asked (`framing`), then answers `generate` with a frame announcing
  1000 bytes of attachment, writes 10 and exits with code 7.
The healthy modes answer `framing` with -32601, as a worker written before that method: images stay base64.
"""

from __future__ import annotations

import json
import os
import sys

OUT = sys.stdout.buffer
PIXEL_PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


def send(obj: dict) -> None:
    OUT.write(json.dumps(obj).encode() + b"\n")
    OUT.flush()


def health(version: int = 2) -> dict:
    return {"contract_version": version, "kernel": "fake", "device": "cpu", "busy": False, "task_id": None,
            "loaded_models": [], "pid": os.getpid(), "samplers": ["euler"], "schedulers": ["karras"],
            "kernel_state": "ready", "kernel_error": None}


def requests():
    for line in sys.stdin.buffer:
        try:
            yield json.loads(line)
        except ValueError:
            continue


def healthy(on_generate, attachments: bool = False) -> None:
    for req in requests():
        method, rid = req.get("method"), req.get("id")
        if method == "framing" and attachments:
            send({"jsonrpc": "2.0", "id": rid, "result": {"attachments": True}})
        elif method == "health":
            send({"jsonrpc": "2.0", "id": rid, "result": health()})
        elif method == "generate":
            on_generate(rid, req.get("params") or {})
        elif method == "shutdown":
            send({"jsonrpc": "2.0", "id": rid, "result": {}})
            return
        elif method == "framing":  # as a worker written before the method existed answers
            send({"jsonrpc": "2.0", "id": rid, "error": {"code": -32601, "message": "unknown method 'framing'"}})
        elif rid is not None:
            send({"jsonrpc": "2.0", "id": rid, "result": {}})


def main(mode: str) -> int:
    if mode == "exit-at-start":
        sys.stderr.write("fake worker: refusing to start\n")
        return 3
    if mode == "garbage":
        for _ in requests():
            OUT.write(b"\xff\xfe this is not json {{{\n")
            OUT.flush()
        return 0
    if mode == "half-line":
        OUT.write(b'{"jsonrpc": "2.0", "id": 1, "resu')
        OUT.flush()
        sys.stdin.buffer.read()
        return 0
    if mode == "huge-line":
        size = int(os.environ.get("REMGO_FAKE_HUGE_BYTES", str(32 << 20)))
        OUT.write(b"x" * size + b"\n")
        OUT.flush()
        sys.stdin.buffer.read()
        return 0
    if mode == "endless-line":
        chunk = b"x" * (1 << 20)
        try:
            while True:
                OUT.write(chunk)
        except (BrokenPipeError, OSError):
            return 0
    if mode == "bad-health":
        for req in requests():
            send({"jsonrpc": "2.0", "id": req.get("id"), "result": {"contract_version": "two", "busy": "maybe"}})
        return 0
    if mode == "wrong-version":
        for req in requests():
            send({"jsonrpc": "2.0", "id": req.get("id"), "result": health(999)})
        return 0
    if mode == "crash-mid-task":
        def crash(rid, task) -> None:
            OUT.write(b"\x00\x01 garbage\n" + b'{"jsonrpc": "2.0", "id": ' + str(rid).encode() + b', "res')
            OUT.flush()
            os._exit(7)

        healthy(crash)
        return 0
    if mode == "cut-attachments":
        def cut(rid, task) -> None:
            image = {"index": 0, "seed": task["seeds"][0], "format": "png", "width": 1, "height": 1, "data": "",
                     "attachment": 0}
            OUT.write(json.dumps({"jsonrpc": "2.0", "id": rid, "result": {"task_id": task["task_id"],
                                  "images": [image]}, "attachments": [1000]}).encode() + b"\n" + b"x" * 10)
            OUT.flush()
            os._exit(7)

        healthy(cut, attachments=True)
        return 0
    if mode == "bad-result":
        healthy(lambda rid, task: send({"jsonrpc": "2.0", "id": rid, "result": {"images": "none"}}))
        return 0
    if mode == "instant":
        def pixel(rid, task) -> None:
            images = [{"index": i, "seed": seed, "format": "png", "width": task.get("width", 1),
                       "height": task.get("height", 1), "data": PIXEL_PNG} for i, seed in enumerate(task["seeds"])]
            send({"jsonrpc": "2.0", "id": rid, "result": {"task_id": task["task_id"], "images": images}})

        healthy(pixel)
        return 0
    sys.stderr.write(f"fake worker: unknown mode {mode!r}\n")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else ""))
