"""The Ray side of the ray backend: the actor that runs one worker process on its node, and the few Ray
calls the orchestrator makes. The only module that imports ray, and only inside functions, so that
`import orchestrator.*` stays free of it unless the ray backend is chosen.

`LinePipe` is a transparent pipe: it starts the unchanged worker executable, writes what it is sent to the
worker's stdin, and hands back everything the worker prints through one long-lived streaming call that
yields `(stdout bytes, stderr lines, exit code or None)`, batching whatever is already buffered, with an
empty batch every `heartbeat` seconds so the orchestrator can tell a quiet worker from a lost node. The
worker stays in the actor's session (no new one), so Ray reaps it with the actor; it also exits by itself
on EOF on stdin, which is what it sees when the actor process dies.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from typing import Any

_CHUNK = 1 << 22  # stdout bytes read at once; lines larger than this arrive in several batches
_STDERR_LINE_LIMIT = 1 << 20
_MAX_ERROR_TEXT = 300


class ActorGone(Exception):
    """The actor (or its node) is gone, or did not answer within its time limit."""

    def __init__(self, message: str, *, timed_out: bool = False) -> None:
        super().__init__(message)
        self.timed_out = timed_out


class LinePipe:
    """One worker process on this actor's node. A Ray actor once wrapped by `actor_class()`."""

    def __init__(self) -> None:
        self._proc: asyncio.subprocess.Process | None = None
        self._out = bytearray()
        self._err: list[str] = []
        self._wake: asyncio.Event | None = None
        self._readers: list[asyncio.Task[None]] = []

    async def spawn(self, cmd: list[str], env: dict[str, str], device_policy: str) -> dict[str, Any]:
        """Start the worker; where it runs, or {"error": why} when it cannot be started."""
        import ray

        if self._proc is not None and self._proc.returncode is None:
            return {"error": "a worker process is still running in this actor"}
        gpu_ids = [str(g) for g in ray.get_gpu_ids()]
        # Ray narrows CUDA_VISIBLE_DEVICES to this actor's GPUs, so its first GPU is cuda:0.
        device = "cuda:0" if device_policy == "auto" and gpu_ids else "cpu"
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *cmd, "--device", device, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, env={**os.environ, **env}, limit=_STDERR_LINE_LIMIT,
            )
        except OSError as exc:
            return {"error": f"cannot run {cmd[0]!r}: {exc}"}
        assert self._proc.stdout is not None and self._proc.stderr is not None
        self._out.clear()
        self._err = []
        self._wake = asyncio.Event()
        self._readers = [asyncio.create_task(self._read_stdout(self._proc.stdout)),
                         asyncio.create_task(self._read_stderr(self._proc.stderr))]
        return {
            "node_id": ray.get_runtime_context().get_node_id(),
            "node_ip": ray.util.get_node_ip_address(),
            "hostname": socket.gethostname(),
            "actor_pid": os.getpid(),
            "child_pid": self._proc.pid,
            "gpu_ids": gpu_ids,
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
            "device": device,
        }

    async def _read_stdout(self, stream: asyncio.StreamReader) -> None:
        while chunk := await stream.read(_CHUNK):
            self._out += chunk
            assert self._wake is not None
            self._wake.set()

    async def _read_stderr(self, stream: asyncio.StreamReader) -> None:
        while True:
            try:
                line = await stream.readline()
            except ValueError:  # a line over the limit: dropped, the rest still flows
                continue
            if not line:
                return
            self._err.append(line.decode("utf-8", "replace").rstrip())
            assert self._wake is not None
            self._wake.set()

    async def stream(self, heartbeat: float):  # noqa: ANN201 - a Ray streaming generator
        """Everything the worker prints, batched, until it exits; the last batch carries the exit code."""
        proc, wake = self._proc, self._wake
        if proc is None or wake is None:
            return
        while True:
            try:
                await asyncio.wait_for(wake.wait(), heartbeat)
            except TimeoutError:
                pass
            wake.clear()
            # Both pipes at EOF before the buffers are taken: nothing can be appended after this batch.
            ended = all(task.done() for task in self._readers)
            out, err = bytes(self._out), self._err
            self._out.clear()
            self._err = []
            code = await proc.wait() if ended else None
            yield out, err, code
            if code is not None:
                return

    async def write(self, data: bytes) -> bool:
        """Forward bytes to the worker's stdin; False once it is closed."""
        proc = self._proc
        if proc is None or proc.stdin is None or proc.returncode is not None:
            return False
        try:
            proc.stdin.write(data)
            await proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            return False
        return True

    async def signal(self, signum: int) -> bool:
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return False
        try:
            proc.send_signal(signum)
        except ProcessLookupError:
            return False
        return True


# ----- the orchestrator's side --------------------------------------------------------------------

_actor_class: Any = None


def actor_class() -> Any:
    """LinePipe as a Ray actor class. Its code travels by value, so nodes need ray but not remgo."""
    global _actor_class
    if _actor_class is None:
        import ray
        from ray import cloudpickle

        cloudpickle.register_pickle_by_value(sys.modules[__name__])
        _actor_class = ray.remote(LinePipe)
    return _actor_class


def connect(address: str) -> bool:
    """Join the Ray cluster at `address` ("auto", "HOST:PORT" or "local"); True when this call did it."""
    import ray

    if ray.is_initialized():
        return False
    if address == "local":  # a private single-node Ray, for trying the backend on one machine
        ray.init(namespace="remgo", include_dashboard=False, log_to_driver=False)
    else:
        ray.init(address=address, namespace="remgo", log_to_driver=False)
    return True


def disconnect() -> None:
    import ray

    ray.shutdown()


def _describe(exc: BaseException) -> str:
    import ray.exceptions as rx

    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, rx.ActorUnavailableError):
        kind = "the Ray actor is unavailable (restarting, or its node is unreachable)"
    elif isinstance(exc, rx.ActorDiedError | rx.RayActorError):
        kind = "the Ray actor died"
    elif isinstance(exc, rx.NodeDiedError):
        kind = "the Ray node died"
    else:
        kind = f"Ray error {type(exc).__name__}"
    return f"{kind}: {first[:_MAX_ERROR_TEXT]}" if first else kind


class RemotePipe:
    """A LinePipe actor seen from the orchestrator: every call bounded in time, every Ray error an ActorGone."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.actor = actor_class().options(**options).remote()

    async def call(self, method: str, *args: Any, timeout: float) -> Any:
        import ray.exceptions as rx

        try:
            return await asyncio.wait_for(_result(getattr(self.actor, method).remote(*args)), timeout)
        except TimeoutError:
            raise ActorGone(f"no answer to {method} within {timeout:g} s", timed_out=True) from None
        except rx.RayError as exc:
            raise ActorGone(_describe(exc)) from None

    def open_stream(self, heartbeat: float) -> Any:
        return self.actor.stream.options(num_returns="streaming").remote(heartbeat)

    async def next_batch(self, stream: Any, timeout: float) -> tuple[bytes, list[str], int | None] | None:
        """The next batch of the stream, None at its end; ActorGone when none comes within `timeout`."""
        import ray.exceptions as rx

        try:
            ref = await asyncio.wait_for(stream.__anext__(), timeout)
            return await asyncio.wait_for(_result(ref), timeout)
        except StopAsyncIteration:
            return None
        except TimeoutError:
            raise ActorGone(f"nothing from the Ray actor for {timeout:g} s", timed_out=True) from None
        except rx.RayError as exc:
            raise ActorGone(_describe(exc)) from None

    def signal_nowait(self, signum: int) -> None:
        self.actor.signal.remote(signum)

    def kill(self) -> None:
        import ray

        try:
            ray.kill(self.actor, no_restart=True)
        except Exception:  # noqa: BLE001 - already gone, or Ray is shutting down
            pass


async def _result(ref: Any) -> Any:
    return await ref
