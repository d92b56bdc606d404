"""The worker's JSON-RPC loop: the reader thread answers at once, one generation thread runs a task.

`health`, `progress` and `stop` are answered on the reader thread, also while a task runs and before
the kernel (torch) has been imported. `generate` is decoded and checked on the reader thread, then runs
on the generation thread, which answers when the task ends. Nothing a kernel raises ends the process.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
import traceback
from typing import Any, BinaryIO

import msgspec

from contract.attachments import detach_images
from contract.events import Failure, FailureKind, Progress, TaskResult
from contract.rpc import (
    BUSY,
    CONTRACT_VERSION,
    FAILURE_CODES,
    INVALID_PARAMS,
    METHOD_NOT_FOUND,
    VERSION_MISMATCH,
    Ack,
    ErrorResponse,
    FrameError,
    Framing,
    FramingParams,
    Health,
    Notification,
    ProgressParams,
    Request,
    Response,
    RpcError,
    StopMode,
    StopParams,
    decode_frame,
    decode_params,
    version_of,
)
from contract.task import GenerateTask
from inference_worker.kernel import (
    Kernel,
    KernelError,
    KernelOptions,
    check_image_method,
    image_methods,
    is_out_of_memory,
    resolve_kernel,
)
from inference_worker.model_paths import check_model_paths
from inference_worker.stdio import FrameWriter
from inference_worker.task_run import TaskRun

log = logging.getLogger("remgo.worker")

_FIELD_RE = re.compile(r"at `\$\.?([^`]*)`")
# How long shutdown waits for a stopped task to unwind before exiting anyway.
SHUTDOWN_GRACE_S = float(os.environ.get("REMGO_WORKER_SHUTDOWN_GRACE", "10"))


_MISSING_RE = re.compile(r"(?:missing required|contains unknown) field `([^`]+)`")


def field_of(exc: Exception) -> str | None:
    """`Expected int - at `$.seeds[0]`` → `seeds[0]`; a missing or unknown field is named, under its parent's
    path."""
    text = str(exc)
    match = _FIELD_RE.search(text)
    where = match.group(1) if match else ""
    missing = _MISSING_RE.search(text)
    if missing:
        return f"{where}.{missing.group(1)}" if where else missing.group(1)
    return where or None


class RpcFailure(Exception):
    def __init__(self, code: int, failure: Failure) -> None:
        super().__init__(failure.message)
        self.code = code
        self.failure = failure


def failure(
    kind: FailureKind, message: str, field: str | None = None, task_id: str | None = None
) -> RpcFailure:
    return RpcFailure(FAILURE_CODES[kind], Failure(kind=kind, message=message, field=field, task_id=task_id))


class WorkerServer:
    def __init__(self, kernel_spec: str, options: KernelOptions, out: FrameWriter) -> None:
        self.kernel_spec = kernel_spec
        self.options = options
        self.out = out
        self._kernel: Kernel | None = None
        self._kernel_error: str | None = None
        self._kernel_ready = threading.Event()
        self._lock = threading.Lock()
        self._run: TaskRun | None = None  # the task in flight
        self._last_run: TaskRun | None = None
        self._gen_thread: threading.Thread | None = None
        self.attachments = False  # images beside the frame, once the client asks (`framing`)
        threading.Thread(target=self._load_kernel, name="kernel-load", daemon=True).start()

    # ----- kernel ---------------------------------------------------------------------------------

    def _load_kernel(self) -> None:
        try:
            cls = resolve_kernel(self.kernel_spec)
            self._kernel = cls(self.options)
        except BaseException as exc:  # noqa: BLE001 - reported through health and every generate
            self._kernel_error = f"{type(exc).__name__}: {exc}"
            log.error("kernel %s failed to load:\n%s", self.kernel_spec, traceback.format_exc())
        finally:
            self._kernel_ready.set()

    def _kernel_state(self) -> str:
        if not self._kernel_ready.is_set():
            return "loading"
        return "ready" if self._kernel is not None else "failed"

    # ----- the loop -------------------------------------------------------------------------------

    def serve(self, stdin: BinaryIO) -> int:
        for line in iter(stdin.readline, b""):
            if not line.strip():
                continue
            if self.handle_line(line) == "shutdown":
                break
        self._finish()
        return 0

    def handle_line(self, line: bytes) -> str | None:
        message = decode_frame(line)
        if isinstance(message, FrameError):
            self.out.send(
                ErrorResponse(id=message.id, error=RpcError(code=message.code, message=message.message))
            )
            return None
        if not isinstance(message, Request):
            return None  # notifications and responses from the orchestrator carry nothing for us
        try:
            result = self._dispatch(message)
        except RpcFailure as exc:
            self._send_error(message.id, exc)
            return None
        if result is _DEFERRED:
            return None
        self.out.send(Response(id=message.id, result=result))
        return "shutdown" if message.method == "shutdown" else None

    def _send_error(self, rid: Any, exc: RpcFailure) -> None:
        f = exc.failure
        error = RpcError(code=exc.code, message=f.message, data=msgspec.to_builtins(f))
        self.out.send(ErrorResponse(id=rid, error=error))

    def _dispatch(self, req: Request) -> Any:
        method = req.method
        if method == "health":
            return self.health()
        if method == "generate":
            self._start_generate(req)
            return _DEFERRED
        if method == "progress":
            params = self._params(req, ProgressParams)
            return self.progress(params.task_id)
        if method == "stop":
            params = self._params(req, StopParams)
            return self.stop(params.task_id, params.mode)
        if method == "framing":
            params = self._params(req, FramingParams)
            self.attachments = params.attachments  # from the next answer on
            return Framing(attachments=self.attachments)
        if method == "shutdown":
            return Ack()
        raise RpcFailure(
            METHOD_NOT_FOUND,
            Failure(
                kind=FailureKind.bad_request,
                message=(f"unknown method {method!r}; this worker answers health, generate, progress, stop, "
                         "framing, shutdown"),
                field="method",
            ),
        )

    @staticmethod
    def _params(req: Request, type_: type) -> Any:
        try:
            return decode_params(req.params, type_, method=req.method)
        except (msgspec.ValidationError, msgspec.DecodeError, ValueError) as exc:
            raise RpcFailure(
                INVALID_PARAMS,
                Failure(kind=FailureKind.bad_request, message=f"{req.method}: {exc}", field=field_of(exc)),
            ) from None

    # ----- quick methods ----------------------------------------------------------------------------

    def health(self) -> Health:
        kernel = self._kernel
        run = self._run
        return Health(
            contract_version=CONTRACT_VERSION,
            kernel=getattr(kernel, "name", None) or self.kernel_spec,
            device=self.options.device,
            busy=run is not None,
            task_id=run.task.task_id if run is not None else None,
            loaded_models=list(kernel.loaded_models()) if kernel is not None else [],
            pid=os.getpid(),
            samplers=list(kernel.samplers()) if kernel is not None else [],
            schedulers=list(kernel.schedulers()) if kernel is not None else [],
            image_inputs=sorted(image_methods(kernel)) if kernel is not None else [],
            kernel_state=self._kernel_state(),
            kernel_error=self._kernel_error,
        )

    def progress(self, task_id: str | None) -> Progress | None:
        for run in (self._run, self._last_run):
            if run is not None and (task_id is None or run.task.task_id == task_id):
                return run.latest
        return None

    def stop(self, task_id: str, mode: StopMode) -> Ack:
        with self._lock:
            run = self._run
            if run is None or run.task.task_id != task_id:
                running = run.task.task_id if run is not None else None
                raise failure(
                    FailureKind.unknown_task,
                    f"no running task {task_id!r} (running: {running!r})",
                    field="task_id",
                    task_id=task_id,
                )
            run.request_stop(mode)
        return Ack(task_id=task_id)

    # ----- generate ---------------------------------------------------------------------------------

    def _decode_task(self, req: Request) -> GenerateTask:
        declared = version_of(req.params)
        if declared is not None and declared != CONTRACT_VERSION:
            raise RpcFailure(
                VERSION_MISMATCH,
                Failure(
                    kind=FailureKind.version_mismatch,
                    message=f"task speaks contract version {declared}; this worker speaks version {CONTRACT_VERSION}",
                    field="contract_version",
                ),
            )
        return self._params(req, GenerateTask)

    def _start_generate(self, req: Request) -> None:
        task = self._decode_task(req)
        with self._lock:
            if self._run is not None:
                raise RpcFailure(
                    BUSY,
                    Failure(
                        kind=FailureKind.busy,
                        message=f"busy with task {self._run.task.task_id!r}",
                        task_id=task.task_id,
                    ),
                )
            run = TaskRun(task, kernel=None, notify=self._notify_progress)
            self._run = run
            self._gen_thread = threading.Thread(
                target=self._generate, args=(req.id, run), name="generate", daemon=True
            )
            self._gen_thread.start()

    def _notify_progress(self, progress: Progress) -> None:
        self.out.send(Notification(method="progress", params=progress))

    def _generate(self, rid: Any, run: TaskRun) -> None:
        task = run.task
        outcome: Response | RpcFailure
        try:
            self._kernel_ready.wait()
            kernel = self._kernel
            if kernel is None:
                raise failure(
                    FailureKind.internal, f"kernel {self.kernel_spec!r} failed to load: {self._kernel_error}"
                )
            run.kernel = kernel
            check_model_paths(task, self.options.model_roots)
            check_image_method(kernel, task)
            kernel.check(task)
            outcome = Response(id=rid, result=run.run())
        except RpcFailure as exc:
            outcome = exc
        except KernelError as exc:
            outcome = failure(exc.kind, exc.message, field=exc.field, task_id=task.task_id)
        except Exception as exc:  # noqa: BLE001 - a kernel error never ends the worker
            outcome = self._internal_failure(exc, run)
        with self._lock:
            self._last_run, self._run = (
                run,
                None,
            )  # idle before answering: the next generate may follow at once
        if isinstance(outcome, RpcFailure):
            self._send_error(rid, outcome)
        elif self.attachments and isinstance(outcome.result, TaskResult):
            result, files = detach_images(outcome.result)
            self.out.send(Response(id=rid, result=result, attachments=[len(f) for f in files]), files)
        else:
            self.out.send(outcome)

    def _internal_failure(self, exc: Exception, run: TaskRun) -> RpcFailure:
        task = run.task
        partial = run.result() if run.images else None
        if is_out_of_memory(exc):
            log.error("task %s: out of memory: %s", task.task_id, exc)
            try:
                if run.kernel is not None:
                    run.kernel.free_memory()
            except Exception:  # noqa: BLE001
                log.exception("freeing memory after OOM failed")
            kind, message = FailureKind.out_of_memory, f"out of memory: {exc}"
        else:
            log.error("task %s failed:\n%s", task.task_id, traceback.format_exc())
            kind, message = FailureKind.internal, f"{type(exc).__name__}: {exc}"
        f = Failure(kind=kind, message=message, task_id=task.task_id, partial=partial)
        return RpcFailure(FAILURE_CODES[kind], f)

    # ----- shutdown ---------------------------------------------------------------------------------

    def _finish(self) -> None:
        with self._lock:
            run, thread = self._run, self._gen_thread
            if run is not None:
                run.request_stop(StopMode.stop)
        if thread is not None:
            thread.join(SHUTDOWN_GRACE_S)
            if thread.is_alive():
                log.warning(
                    "task %s did not stop within %.0fs; exiting anyway",
                    run and run.task.task_id,
                    SHUTDOWN_GRACE_S,
                )
                sys.stderr.flush()
                os._exit(0)


_DEFERRED = object()
