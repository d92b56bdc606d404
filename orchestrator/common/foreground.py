"""Whether the server is answering a request right now, so that bulk background work can wait its turn.

Bulk work beside a request slows it, whatever the threads' priorities, since both share the memory bus, the
caches and, within this process, the interpreter: on 2 cores p99 submit latency doubled while a checkpoint
was hashed and tripled while 2.5 MB images came in from a worker. So that work waits before each piece
(`wait_quiet` on a thread, `until_quiet` on the event loop) until no request has been in flight for a moment,
or for a bounded time, so that it still moves under a steady stream of requests: hashing a model file
(catalog/hashes.py) and taking a worker's image bytes off its pipe (pool/rpc_client.py).

A request counts from its arrival until its answer starts (`http.response.start`): an event stream or a file
download counts only until its headers are sent, and a WebSocket never counts.
"""

from __future__ import annotations

import asyncio
import threading
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

QUIET_GRACE_S = 0.002  # no request for this long: the next request of a burst would have come by now


class Foreground:
    """Counted on the event loop's thread (`begin`/`end`); waited on by background threads (`wait_quiet`)."""

    def __init__(self, *, grace: float = QUIET_GRACE_S) -> None:
        self.grace = grace
        self._in_flight = 0
        self._last_end = 0.0
        self._lock = threading.Lock()

    def begin(self) -> None:
        with self._lock:
            self._in_flight += 1

    def end(self) -> None:
        with self._lock:
            self._in_flight -= 1
            self._last_end = time.monotonic()

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def quiet(self) -> bool:
        with self._lock:
            return self._in_flight == 0 and time.monotonic() - self._last_end >= self.grace

    def wait_quiet(self, timeout: float) -> bool:
        """Block the calling (background) thread until no request has been in flight for `grace` seconds, or
        `timeout` seconds have passed; True when it is quiet. Never call it on the event loop."""
        deadline = time.monotonic() + timeout
        while not self.quiet():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(self.grace, left))
        return True

    async def until_quiet(self, timeout: float) -> bool:
        """`wait_quiet` for a coroutine on the event loop: it sleeps meanwhile, so requests go on."""
        deadline = time.monotonic() + timeout
        while not self.quiet():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            await asyncio.sleep(min(self.grace, left))
        return True


class ForegroundMiddleware:
    """Counts each HTTP request in `foreground` until its answer starts. Outermost, so it counts everything
    the server does for a request, refusals included."""

    def __init__(self, app: ASGIApp, foreground: Foreground) -> None:
        self.app = app
        self.foreground = foreground

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        counted = True
        self.foreground.begin()

        async def send_counting(message: Message) -> None:
            nonlocal counted
            if counted and message["type"] == "http.response.start":
                counted = False
                self.foreground.end()
            await send(message)

        try:
            await self.app(scope, receive, send_counting)
        finally:
            if counted:  # ended without an answer (the client went, an error escaped)
                self.foreground.end()
