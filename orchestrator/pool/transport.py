"""How the orchestrator reaches one worker process: bytes to its stdin, bytes from its stdout, its stderr lines.

WorkerHandle speaks JSON-RPC over whichever transport it is given, so request/response matching, health,
stop/skip and the watchdog are one piece of code wherever the process runs. `SubprocessTransport` runs the
worker as a child of the orchestrator; `orchestrator.pool.ray.backend.RayTransport` runs it inside a Ray actor on
some node of a cluster. A transport is reused across respawns: `start` begins a fresh process each time.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable
from typing import Protocol

import msgspec

# Frames carry whole images (base64, from workers that do not send attachments); allow long lines.
LINE_LIMIT = 1 << 28
# How far ahead of its reader a worker's output is read: past twice this the pipe is left to fill and the
# worker waits, so image bytes move when the reader takes them (pool/rpc_client.py) and not before.
READ_AHEAD = 256 * 1024

StderrSink = Callable[[str], None]


class StartError(Exception):
    """The worker did not become ready; the message says why."""


class WorkerPlacement(msgspec.Struct, frozen=True, kw_only=True):
    """Where a worker of a remote backend runs; local workers have none."""

    backend: str
    node_id: str
    node_ip: str
    hostname: str
    actor_pid: int
    gpu_ids: list[str]
    cuda_visible_devices: str | None


class PipeWriter(Protocol):
    """The part of asyncio.StreamWriter the RPC client uses."""

    def write(self, data: bytes) -> None: ...

    async def drain(self) -> None: ...

    def close(self) -> None: ...


class WorkerTransport(Protocol):
    reader: asyncio.StreamReader | None  # the worker's stdout; EOF once the worker is gone
    writer: PipeWriter | None  # the worker's stdin
    device: str | None  # the device the worker was started on, once known
    placement: WorkerPlacement | None
    exit_reason: str | None  # why it ended, when more than an exit code says

    @property
    def pid(self) -> int | None: ...

    @property
    def started(self) -> bool:
        """A process was started by the last `start` (it may have ended since)."""
        ...

    @property
    def running(self) -> bool: ...

    async def start(self, cmd: list[str], env: dict[str, str], *, on_stderr: StderrSink, timeout: float) -> None:
        """Begin a fresh worker process; StartError when it cannot be run."""
        ...

    async def wait(self) -> int:
        """Until the process has ended and its output is read; its exit code."""
        ...

    def terminate(self) -> None: ...

    def kill(self) -> None: ...

    async def release(self) -> None:
        """Give back what the transport holds beyond the process (a remote actor); at shutdown."""
        ...


async def drain_lines(stream: asyncio.StreamReader, on_line: StderrSink) -> None:
    """Read a worker's log lines until EOF; they must be read or the pipe fills and the worker blocks."""
    while True:
        try:
            line = await stream.readline()
        except (ValueError, ConnectionError):
            continue
        if not line:
            return
        on_line(line.decode("utf-8", "replace").rstrip())


class SubprocessTransport:
    """The worker as a child process of the orchestrator, in its own session so that a Ctrl-C in the
    terminal reaches only the orchestrator, which then shuts workers down in order."""

    def __init__(self) -> None:
        self.process: asyncio.subprocess.Process | None = None
        self.reader: asyncio.StreamReader | None = None
        self.writer: PipeWriter | None = None
        self.device: str | None = None
        self.placement: WorkerPlacement | None = None
        self.exit_reason: str | None = None
        self._stderr_task: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def started(self) -> bool:
        return self.process is not None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def start(self, cmd: list[str], env: dict[str, str], *, on_stderr: StderrSink, timeout: float) -> None:
        self.process = None
        try:
            self.process = await asyncio.create_subprocess_exec(
                *cmd, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, env={**os.environ, **env}, limit=READ_AHEAD,
                start_new_session=True,
            )
        except OSError as exc:
            raise StartError(f"cannot run {cmd[0]!r}: {exc}") from None
        assert self.process.stdout and self.process.stdin and self.process.stderr
        self.reader, self.writer = self.process.stdout, self.process.stdin
        self._stderr_task = asyncio.create_task(drain_lines(self.process.stderr, on_stderr))

    async def wait(self) -> int:
        assert self.process is not None
        code = await self.process.wait()
        if self._stderr_task is not None:
            await asyncio.wait([self._stderr_task], timeout=1)
        return code

    def terminate(self) -> None:
        if self.running:
            assert self.process is not None
            self.process.terminate()

    def kill(self) -> None:
        if self.running:
            assert self.process is not None
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                self.process.kill()

    async def release(self) -> None:
        return None
