"""One worker process: spawn it, wait until its kernel is ready, call it, watch it, end it.

The handle knows the process's transport (a local child or a Ray actor, see worker_transport) and its RPC
client; the WorkerPool decides when to (re)spawn. State: starting → idle ⇄ busy; restarting after an exit;
failed when it could not start (the pool retries); stopped at shutdown.
"""

from __future__ import annotations

import asyncio
import collections
import enum
import logging
import time
from collections.abc import Callable

import msgspec

from contract.attachments import attach_images
from contract.events import Progress, TaskResult
from contract.rpc import METHOD_NOT_FOUND, Framing, FramingParams, Health, StopMode, StopParams
from contract.task import CONTRACT_VERSION, GenerateTask
from orchestrator.common.background import in_background
from orchestrator.common.foreground import Foreground
from orchestrator.pool.rpc_client import LARGE_FRAME, RpcCallError, RpcClient, WorkerGone
from orchestrator.pool.transport import (
    StartError,
    SubprocessTransport,
    WorkerPlacement,
    WorkerTransport,
)

log = logging.getLogger("remgo.workers")
_result_decoder = msgspec.json.Decoder(TaskResult)


class WorkerState(enum.StrEnum):
    starting = "starting"
    idle = "idle"
    busy = "busy"
    restarting = "restarting"
    failed = "failed"
    stopped = "stopped"


class WorkerHandle:
    def __init__(self, name: str, device: str, cmd: list[str], *, env: dict[str, str] | None = None,
                 on_progress: Callable[[WorkerHandle, Progress], None] | None = None,
                 transport: WorkerTransport | None = None, foreground: Foreground | None = None) -> None:
        self.name = name
        self.foreground = foreground  # the requests its image bytes wait for (common/foreground.py)
        self.device = device
        self.cmd = cmd
        self.env = env
        self.on_progress = on_progress
        self.state = WorkerState.starting
        self.transport: WorkerTransport = transport or SubprocessTransport()
        self.rpc: RpcClient | None = None
        self.health: Health | None = None
        self.restarts = 0
        self.tasks_done = 0
        self.attachments = False  # its images come beside the frame (asked for at each start)
        self.error: str | None = None  # why it is not running now (failed start), if so
        self.last_exit: str | None = None  # why the previous process ended
        self.kill_reason: str | None = None  # why the orchestrator killed it, if it did
        self.current_task: str | None = None
        self.current_job: str | None = None
        self.last_model: str | None = None  # base model of the last task run here (affinity)
        self.last_activity = time.monotonic()
        self.started_at: float | None = None
        self.outdated = False  # started with a command that has changed since: restart when idle
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=40)

    # ----- lifecycle --------------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        return self.transport.pid

    @property
    def alive(self) -> bool:
        return self.transport.running

    @property
    def placement(self) -> WorkerPlacement | None:
        return self.transport.placement

    @property
    def exit_reason(self) -> str | None:
        """Why the last process ended, when the transport knows more than its exit code."""
        return self.transport.exit_reason

    @property
    def connected(self) -> bool:
        return self.rpc is not None and not self.rpc.closed

    @property
    def loaded_models(self) -> list[str]:
        return list(self.health.loaded_models) if self.health else []

    async def spawn(self, timeout: float) -> Health:
        """Start the process and wait until `health` says its kernel is ready; StartError otherwise."""
        self.health, self.kill_reason = None, None
        if self.state is not WorkerState.failed:  # a worker that failed to start keeps its reason until ready
            self.state, self.error = WorkerState.starting, None
        self.stderr_tail.clear()
        began = time.monotonic()
        await self.transport.start(self.cmd, dict(self.env or {}), on_stderr=self._stderr_line, timeout=timeout)
        assert self.transport.reader is not None and self.transport.writer is not None
        self.device = self.transport.device or self.device
        self.rpc = RpcClient(self.transport.reader, self.transport.writer,  # type: ignore[arg-type]
                             on_notification=self._notified, name=self.name, foreground=self.foreground)
        self.rpc.start()
        self.started_at = time.time()
        try:
            left = timeout - (time.monotonic() - began)
            if left <= 0:
                raise TimeoutError
            # asyncio.timeout, not wait_for: on Python 3.11 a wait_for cancelled while its inner task ends in
            # WorkerGone (the pool stopping a worker mid start-up) leaves that exception unread.
            async with asyncio.timeout(left):
                self.attachments = await self._ask_for_attachments()
                health = await self._until_ready()
        except TimeoutError:
            raise StartError(f"not ready after {timeout:g} s{self.protocol_note()}") from None
        except WorkerGone:
            tail = " | ".join(list(self.stderr_tail)[-5:])
            raise StartError(f"exited during start-up: {tail or 'no output'}{self.protocol_note()}") from None
        except RpcCallError as exc:
            raise StartError(f"answered `health` with an error: {exc}") from None
        except msgspec.MsgspecError as exc:  # a result that is not a Health
            raise StartError(f"answered `health` with a malformed result: {exc}") from None
        if health.contract_version != CONTRACT_VERSION:
            raise StartError(f"speaks contract version {health.contract_version}, "
                             f"the orchestrator speaks {CONTRACT_VERSION}")
        self.health = health
        self.state, self.error = WorkerState.idle, None
        self.last_activity = time.monotonic()
        return health

    def protocol_note(self) -> str:
        """How its output last broke the protocol, as a clause to end a message with; "" if it never did."""
        problem = self.rpc.last_problem if self.rpc is not None else None
        return f"; its output broke the protocol: {problem}" if problem else ""

    async def _ask_for_attachments(self) -> bool:
        """Images beside the frame from now on, if the worker can (contract/attachments.py); a worker that
        does not know `framing` keeps base64, as before it existed."""
        assert self.rpc is not None
        try:
            raw = await self.rpc.call("framing", FramingParams(attachments=True), timeout=30)
            return msgspec.json.decode(raw or b"null", type=Framing).attachments
        except RpcCallError as exc:
            if exc.code == METHOD_NOT_FOUND:
                return False
            raise StartError(f"answered `framing` with an error: {exc}") from None
        except msgspec.MsgspecError as exc:
            raise StartError(f"answered `framing` with a malformed result: {exc}") from None

    async def _until_ready(self) -> Health:
        while True:
            health = await self.refresh_health(timeout=30)
            if health.kernel_state == "ready":
                return health
            if health.kernel_state == "failed":
                raise StartError(f"kernel failed to load: {health.kernel_error}")
            await asyncio.sleep(0.05)

    async def refresh_health(self, timeout: float = 10) -> Health:
        assert self.rpc is not None
        raw = await self.rpc.call("health", timeout=timeout)
        self.health = msgspec.json.decode(raw or b"null", type=Health)
        return self.health

    async def wait_exit(self) -> int:
        code = await self.transport.wait()
        if self.rpc is not None:
            await self.rpc.close()
        return code

    def kill(self) -> None:
        """SIGKILL the worker (watchdog, or a shutdown that took too long)."""
        self.transport.kill()

    async def shutdown(self, timeout: float) -> None:
        """Ask politely (`shutdown`), then terminate, then kill; then release what the transport holds."""
        self.state = WorkerState.stopped
        try:
            if self.alive:
                await self._end_process(timeout)
        finally:
            await self.transport.release()

    async def end_process(self, timeout: float) -> None:
        """End the process politely, leaving its supervisor to start the next one."""
        if self.alive:
            await self._end_process(timeout)

    async def _end_process(self, timeout: float) -> None:
        try:
            if self.rpc is not None and not self.rpc.closed:
                await self.rpc.call("shutdown", timeout=min(2.0, timeout))
        except (RpcCallError, WorkerGone, TimeoutError):
            pass
        try:
            await asyncio.wait_for(self.transport.wait(), timeout)
        except TimeoutError:
            self.transport.terminate()
            try:
                await asyncio.wait_for(self.transport.wait(), 2)
            except TimeoutError:
                self.kill()
                await asyncio.wait_for(self.transport.wait(), max(timeout, 5))

    def _stderr_line(self, text: str) -> None:
        self.stderr_tail.append(text)
        log.info("[%s] %s", self.name, text)

    def _notified(self, method: str, params: msgspec.Raw | None) -> None:
        if method != "progress" or params is None:
            return
        progress = msgspec.json.decode(params, type=Progress)
        self.last_activity = time.monotonic()
        if self.on_progress is not None:
            self.on_progress(self, progress)

    # ----- work -------------------------------------------------------------------------------

    def reserve(self, job_id: str, task_id: str) -> None:
        self.state = WorkerState.busy
        self.current_job, self.current_task = job_id, task_id
        self.last_activity = time.monotonic()

    def release(self) -> None:
        self.current_job = self.current_task = None
        if self.state is WorkerState.busy:
            self.state = WorkerState.idle if self.connected else WorkerState.restarting

    async def generate(self, task: GenerateTask) -> TaskResult:
        """Run one task; RpcCallError (with `.failure`) or WorkerGone when it does not succeed."""
        if self.rpc is None:
            raise WorkerGone(f"{self.name} is not running")
        raw, files = await self.rpc.call_with_attachments("generate", task)
        self.tasks_done += 1
        self.last_model = task.base_model.name
        if raw is not None and len(raw) > LARGE_FRAME:  # images as base64: megabytes of JSON, off the loop
            result = await in_background(_result_decoder.decode, raw)
        else:
            result = _result_decoder.decode(raw or b"null")
        return attach_images(result, files) if files else result

    async def stop_task(self, task_id: str, mode: StopMode) -> bool:
        """Ask the worker to stop/skip; False when it does not know the task (not started or done)."""
        if self.rpc is None:
            return False
        try:
            await self.rpc.call("stop", StopParams(task_id=task_id, mode=mode), timeout=10)
            return True
        except (RpcCallError, WorkerGone, TimeoutError):
            return False
