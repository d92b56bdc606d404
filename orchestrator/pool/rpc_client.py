"""The JSON-RPC client for one worker's stdio: many requests in flight at once, matched by id.

`generate` can run for minutes while `progress` and `stop` go out and come back on the same pipe, so
every call gets its own future keyed by request id and one reader task resolves them as answers
arrive. Notifications go to a callback. When the pipe closes every pending call fails with WorkerGone.
A response's attachments (contract/attachments.py) are read right after its frame and handed over with it.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable
from typing import Any, NamedTuple

import msgspec

from contract.events import Failure
from contract.rpc import (
    ErrorResponse,
    FrameError,
    Notification,
    Request,
    Response,
    decode_frame,
    encode_frame,
)
from orchestrator.common.background import in_background
from orchestrator.common.foreground import Foreground
from orchestrator.pool.transport import LINE_LIMIT, READ_AHEAD

LARGE_FRAME = 256 * 1024  # bytes; smaller frames (progress, health) are decoded on the loop
# Attachments are taken a piece at a time, each once requests leave a quiet moment or after this long at
# most: under a steady stream of requests a 2.5 MB image moves in about 0.2 s, while the worker waits on its
# full pipe (seconds per image on a GPU).
ATTACHMENT_PIECE = READ_AHEAD
ATTACHMENT_YIELD_MAX_S = 0.02
log = logging.getLogger("remgo.rpc")


class WorkerGone(Exception):
    """The worker's pipe closed (it exited or was killed) before the answer came."""


class RpcCallError(Exception):
    """A JSON-RPC error answer; `failure` is the contract Failure from `error.data` when there is one."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(f"[{code}] {message}")
        self.code = code
        self.message = message
        self.data = data
        self.failure: Failure | None = None
        if isinstance(data, dict):
            try:
                self.failure = msgspec.convert(data, Failure)
            except msgspec.ValidationError:
                pass


NotificationHandler = Callable[[str, msgspec.Raw | None], None]


class Reply(NamedTuple):
    result: msgspec.Raw | None
    attachments: list[bytes]


class RpcClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *,
                 on_notification: NotificationHandler, name: str = "worker",
                 foreground: Foreground | None = None) -> None:
        self._reader = reader
        self._foreground = foreground
        self._writer = writer
        self._on_notification = on_notification
        self._name = name
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Reply]] = {}
        self._write_lock = asyncio.Lock()
        self._reader_task: asyncio.Task[None] | None = None
        self.closed = False
        self.last_problem: str | None = None  # the last output that was not a frame (why a start fails)

    def start(self) -> None:
        self._reader_task = asyncio.create_task(self._read_loop(), name=f"rpc reader {self._name}")

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    async def call(self, method: str, params: Any = None, *, timeout: float | None = None) -> msgspec.Raw | None:
        """Send a request and wait for its answer: the raw `result`, or RpcCallError / WorkerGone."""
        return (await self.call_with_attachments(method, params, timeout=timeout)).result

    async def call_with_attachments(self, method: str, params: Any = None, *,
                                    timeout: float | None = None) -> Reply:
        """As `call`, with the attachments that followed the answer's frame."""
        if self.closed:
            raise WorkerGone(f"{self._name} is not running")
        rid = next(self._ids)
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._pending[rid] = future
        try:
            await self._send(encode_frame(Request(id=rid, method=method, params=params)))
            return await asyncio.wait_for(future, timeout) if timeout else await future
        finally:
            self._pending.pop(rid, None)
            # The worker may go while the request is still being written: the send raises, and the failure
            # set on this future meanwhile is the same news; mark it seen, or asyncio reports it as lost.
            if future.done() and not future.cancelled():
                future.exception()
            else:
                future.cancel()

    async def _send(self, frame: bytes) -> None:
        try:
            async with self._write_lock:
                self._writer.write(frame)
                await self._writer.drain()
        except (ConnectionError, RuntimeError) as exc:  # RuntimeError: transport closed
            raise WorkerGone(f"{self._name}: cannot write: {exc}") from None

    async def _read_line(self) -> bytes:
        """The next frame's line, up to LINE_LIMIT bytes, read READ_AHEAD at a time; b"" at the end of the
        output (a last line without its newline comes back as it is). ValueError past the limit."""
        pieces: list[bytes] = []
        size = 0
        while True:
            try:
                pieces.append(await self._reader.readuntil(b"\n"))
                return b"".join(pieces)
            except asyncio.LimitOverrunError as exc:  # no newline among the bytes buffered: take them, go on
                piece = await self._reader.readexactly(exc.consumed)
            except asyncio.IncompleteReadError as exc:
                return b"".join(pieces) + exc.partial
            pieces.append(piece)
            size += len(piece)
            if size > LINE_LIMIT:
                raise ValueError(f"no newline in the first {size} bytes; the limit is {LINE_LIMIT}")

    async def _read_attachment(self, size: int) -> bytes:
        pieces = []
        while size:
            if self._foreground is not None:
                await self._foreground.until_quiet(ATTACHMENT_YIELD_MAX_S)
            pieces.append(await self._reader.readexactly(min(size, ATTACHMENT_PIECE)))
            size -= len(pieces[-1])
        return b"".join(pieces)

    async def _read_loop(self) -> None:
        try:
            while True:
                try:
                    line = await self._read_line()
                except ValueError as exc:
                    self.last_problem = f"a line longer than the frame limit: {exc}"
                    log.error("%s: frame too long, dropping the connection: %s", self._name, exc)
                    break
                except ConnectionError:
                    break
                if not line:
                    break
                # A result carrying images is megabytes of JSON: parsed in a thread, so the event loop keeps
                # answering requests meanwhile (frames stay in order: the next line waits for this one).
                message = await in_background(decode_frame, line) if len(line) > LARGE_FRAME else decode_frame(line)
                attachments: list[bytes] = []
                if isinstance(message, Response) and message.attachments:
                    try:  # raw bytes: nothing to parse
                        attachments = [await self._read_attachment(n) for n in message.attachments]
                    except (asyncio.IncompleteReadError, ConnectionError):
                        self.last_problem = "the output ended inside a frame's attachments"
                        break
                self._dispatch(message, attachments)
        finally:
            self._fail_all(WorkerGone(f"{self._name} closed its output"))

    def _dispatch(self, message: Any, attachments: list[bytes]) -> None:
        if isinstance(message, Response):
            future = self._pending.get(message.id)  # type: ignore[arg-type]
            if future is not None and not future.done():
                future.set_result(Reply(message.result, attachments))
        elif isinstance(message, ErrorResponse):
            future = self._pending.get(message.id) if message.id is not None else None  # type: ignore[arg-type]
            err = message.error
            if future is not None and not future.done():
                future.set_exception(RpcCallError(err.code, err.message, err.data))
            else:
                log.warning("%s: error without a waiting call: [%s] %s", self._name, err.code, err.message)
        elif isinstance(message, Notification):
            try:
                self._on_notification(message.method, message.params)
            except Exception:  # a bad handler must not kill the reader
                log.exception("%s: notification handler failed", self._name)
        elif isinstance(message, FrameError):
            self.last_problem = f"an unreadable frame: {message.message}"
            log.warning("%s: unreadable frame: %s", self._name, message.message)
        elif isinstance(message, Request):
            log.warning("%s: unexpected request %r from the worker", self._name, message.method)

    def _fail_all(self, exc: Exception) -> None:
        self.closed = True
        for future in self._pending.values():
            if not future.done():
                future.set_exception(exc)

    async def close(self) -> None:
        self.closed = True
        try:
            self._writer.close()
        except RuntimeError:
            pass
        if self._reader_task is not None:
            self._reader_task.cancel()
            try:
                await self._reader_task
            except (asyncio.CancelledError, Exception):
                pass
