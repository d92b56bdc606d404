"""The ray backend of the WorkerPool: each worker runs inside one Ray actor, anywhere on a Ray cluster.

The pool, the handles, the RPC client, the watchdog and the dispatcher are the local ones; only the
transport differs. `RayTransport` feeds the actor's stream into an asyncio.StreamReader and forwards the
RPC client's writes to the actor, so a remote worker looks exactly like a local child. Every read of the
stream and every call to the actor has a time limit: a worker that exits, an actor that dies or is
restarted by Ray, and a node that is lost all end the stream within `ray_stream_timeout` seconds, which the
pool sees as a worker exit: the in-flight task is retried elsewhere and the handle asks Ray for a worker
again (a fresh actor when the old one is gone). Ray itself is only touched through orchestrator.pool.ray.actor.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import signal
from typing import Any

from orchestrator.pool.command import worker_command
from orchestrator.pool.ray import actor as ray_actor
from orchestrator.pool.ray.actor import ActorGone, RemotePipe
from orchestrator.pool.transport import READ_AHEAD, StartError, StderrSink, WorkerPlacement
from orchestrator.settings import Settings, SettingsError

log = logging.getLogger("remgo.workers")


def actor_options(settings: Settings) -> dict[str, Any]:
    """What each worker actor asks Ray for."""
    return {"num_gpus": settings.ray_num_gpus, "num_cpus": settings.ray_num_cpus,
            "resources": dict(settings.ray_resources), "max_restarts": settings.ray_max_restarts}


def _asks(options: dict[str, Any]) -> str:
    extra = "".join(f", {k}={v:g}" for k, v in options["resources"].items())
    return f"num_gpus={options['num_gpus']:g}, num_cpus={options['num_cpus']:g}{extra}"


class RayConnection:
    """The orchestrator's one connection to the cluster, made on first use (ray.init blocks: in a thread)."""

    def __init__(self, address: str) -> None:
        self.address = address
        self._connecting: asyncio.Future[bool] | None = None

    async def ensure(self, timeout: float) -> None:
        if self._connecting is None or (self._connecting.done() and self._connecting.exception() is not None):
            self._connecting = asyncio.ensure_future(asyncio.to_thread(ray_actor.connect, self.address))
        try:
            await asyncio.wait_for(asyncio.shield(self._connecting), timeout)
        except TimeoutError:
            raise StartError(f"could not join the Ray cluster at {self.address!r} within {timeout:g} s") from None
        except Exception as exc:  # noqa: BLE001 - ConnectionError, RuntimeError … all mean the same here
            raise StartError(f"could not join the Ray cluster at {self.address!r}: {exc}") from None

    async def close(self) -> None:
        """Leave the cluster if this connection joined it."""
        joining, self._connecting = self._connecting, None
        if joining is None:
            return
        try:
            joined = await joining
        except Exception:  # noqa: BLE001 - never connected
            return
        if joined:
            await asyncio.to_thread(ray_actor.disconnect)


class _ActorWriter:
    """The worker's stdin as the RPC client sees it: writes buffer, `drain` sends them to the actor."""

    def __init__(self, transport: RayTransport) -> None:
        self._transport = transport
        self._buffer = bytearray()

    def write(self, data: bytes) -> None:
        self._buffer += data

    async def drain(self) -> None:
        if self._buffer:
            data = bytes(self._buffer)
            self._buffer.clear()
            await self._transport.send(data)

    def close(self) -> None:
        self._buffer.clear()


class RayTransport:
    def __init__(self, connection: RayConnection, *, name: str, options: dict[str, Any], device_policy: str,
                 stream_timeout: float) -> None:
        self.connection = connection
        self.name = name
        self.options = options
        self.device_policy = device_policy  # "auto": the actor's GPU if Ray gave it one; "cpu"
        self.stream_timeout = stream_timeout
        self.heartbeat = min(2.0, max(0.1, stream_timeout / 4))
        self.restartable = options["max_restarts"] != 0
        self.reader: asyncio.StreamReader | None = None
        self.writer: _ActorWriter | None = None
        self.device: str | None = None
        self.placement: WorkerPlacement | None = None
        self.exit_reason: str | None = None
        self._pipe: RemotePipe | None = None
        self._pid: int | None = None
        self._returncode: int | None = None
        self._started = False
        self._exited = asyncio.Event()
        self._pump: asyncio.Task[None] | None = None
        self._fallback: asyncio.TimerHandle | None = None
        self._released = False  # set by `release`: a start still in flight must not ask for another actor

    @property
    def pid(self) -> int | None:
        """The worker's process id on its node (see `placement`)."""
        return self._pid

    @property
    def started(self) -> bool:
        return self._started

    @property
    def running(self) -> bool:
        return self._started and self._returncode is None

    async def start(self, cmd: list[str], env: dict[str, str], *, on_stderr: StderrSink, timeout: float) -> None:
        self._started, self._returncode, self._pid, self.exit_reason = False, None, None, None
        self._released = False
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        await self.connection.ensure(timeout)
        info = await self._spawn(cmd, env, deadline)
        self._pid, self.device = info["child_pid"], info["device"]
        self.placement = WorkerPlacement(
            backend="ray", node_id=info["node_id"], node_ip=info["node_ip"], hostname=info["hostname"],
            actor_pid=info["actor_pid"], gpu_ids=info["gpu_ids"], cuda_visible_devices=info["cuda_visible_devices"])
        self.reader = asyncio.StreamReader(limit=READ_AHEAD)
        self.writer = _ActorWriter(self)
        self._exited = asyncio.Event()
        self._started = True
        assert self._pipe is not None
        self._pump = asyncio.create_task(self._pump_stream(self._pipe, self.reader, on_stderr),
                                         name=f"ray stream {self.name}")

    async def _spawn(self, cmd: list[str], env: dict[str, str], deadline: float) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        while True:
            if self._released:
                raise StartError("the worker pool is shutting down")
            fresh = self._pipe is None
            if self._pipe is None:
                try:
                    self._pipe = RemotePipe(self.options)
                except Exception as exc:  # noqa: BLE001 - bad resource names, Ray gone …
                    raise StartError(f"Ray refused the worker actor ({_asks(self.options)}): {exc}") from None
            left = deadline - loop.time()
            try:
                info = await self._pipe.call("spawn", cmd, env, self.device_policy, timeout=max(left, 0.01))
            except ActorGone as exc:
                self._drop_pipe()
                if fresh:
                    raise StartError(f"no Ray actor ({_asks(self.options)}) came up: {exc}") from None
                continue  # the old actor is gone: ask Ray for a new one
            if "error" in info:
                raise StartError(info["error"])
            return info

    async def _pump_stream(self, pipe: RemotePipe, reader: asyncio.StreamReader, on_stderr: StderrSink) -> None:
        code = -1
        try:
            stream = pipe.open_stream(self.heartbeat)
            while True:
                batch = await pipe.next_batch(stream, self.stream_timeout)
                if batch is None:
                    self.exit_reason = "its Ray actor ended the stream without an exit code"
                    break
                out, err, exit_code = batch
                if out:
                    reader.feed_data(out)
                for line in err:
                    on_stderr(line)
                if exit_code is not None:
                    code = exit_code
                    break
        except ActorGone as exc:
            self.exit_reason = f"lost its Ray actor: {exc}"
            if exc.timed_out or not self.restartable:
                self._drop_pipe()  # a silent or dead actor is not reused; a restartable one comes back
        except Exception as exc:  # noqa: BLE001 - whatever breaks the stream ends this worker
            log.exception("%s: the Ray stream failed", self.name)
            self.exit_reason = f"its Ray stream failed: {type(exc).__name__}: {exc}"
            self._drop_pipe()
        finally:
            if self._fallback is not None:
                self._fallback.cancel()
            self._returncode = code
            reader.feed_eof()
            self._exited.set()

    async def send(self, data: bytes) -> None:
        """Bytes to the worker's stdin; ConnectionError (the RPC client's WorkerGone) when that fails."""
        pipe = self._pipe
        if pipe is None or not self.running:
            raise ConnectionError(f"{self.name} is not running")
        try:
            ok = await pipe.call("write", data, timeout=self.stream_timeout)
        except ActorGone as exc:
            raise ConnectionError(str(exc)) from None
        if not ok:
            raise ConnectionError(f"{self.name}: the worker's stdin is closed")

    async def wait(self) -> int:
        await self._exited.wait()
        assert self._returncode is not None
        return self._returncode

    def terminate(self) -> None:
        if self.running and self._pipe is not None:
            self._pipe.signal_nowait(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL the worker (the actor stays for its next worker); the actor too if that does not end it."""
        if not self.running or self._pipe is None:
            return
        self._pipe.signal_nowait(signal.SIGKILL)
        if self._fallback is None or self._fallback.cancelled():
            loop = asyncio.get_running_loop()
            self._fallback = loop.call_later(self.stream_timeout, self._kill_actor_if_running)

    def _kill_actor_if_running(self) -> None:
        self._fallback = None
        if self.running:
            log.warning("%s: the worker did not end after SIGKILL; killing its Ray actor", self.name)
            self._drop_pipe()

    def _drop_pipe(self) -> None:
        pipe, self._pipe = self._pipe, None
        if pipe is not None:
            pipe.kill()

    async def release(self) -> None:
        self._released = True
        if self._fallback is not None:
            self._fallback.cancel()
        self._drop_pipe()
        pump = self._pump
        if pump is not None and not pump.done():
            try:
                await asyncio.wait_for(pump, self.stream_timeout)
            except (TimeoutError, asyncio.CancelledError):
                pass


class RayBackend:
    """`workers` actors, each reserving `ray_num_gpus` GPUs (and CPUs, custom resources) wherever Ray finds them."""

    name = "ray"

    def __init__(self, settings: Settings) -> None:
        assert settings.workers is not None  # Settings refuses the ray backend without it
        if importlib.util.find_spec("ray") is None:
            raise SettingsError("backend", "ray is not installed; `pip install 'remgo[cluster]'` adds it")
        self.settings = settings
        self.devices = [settings.devices[0]] * settings.workers  # "auto" or "cpu", resolved by each actor
        self.connection = RayConnection(settings.ray_address)
        self.options = actor_options(settings)

    def command(self, device: str, model_roots: list[str]) -> list[str]:
        # the actor adds --device once it knows its GPUs
        return worker_command(self.settings, None, model_roots)

    def transport(self, index: int) -> RayTransport:
        return RayTransport(self.connection, name=f"w{index}", options=self.options, device_policy=self.devices[index],
                            stream_timeout=self.settings.ray_stream_timeout)

    async def close(self) -> None:
        await self.connection.close()
