"""The foreground gauge through a real ASGI server: a request counts from its arrival until its answer
starts, an event stream only until its headers, a WebSocket never; background waits end once it is quiet."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route, WebSocketRoute

from bench.harness.in_process import free_socket
from orchestrator.common.foreground import Foreground, ForegroundMiddleware

WAIT = 10  # seconds: a bound on waits for a condition, never a measurement


@pytest.fixture
def served():
    foreground = Foreground(grace=0.05)
    seen: dict[str, int] = {}
    release = threading.Event()

    async def slow(request):
        seen["inside"] = foreground.in_flight
        await asyncio.to_thread(release.wait, WAIT)
        return JSONResponse({"ok": True})

    async def stream(request):
        async def body():
            yield b"data: first\n\n"
            await asyncio.to_thread(release.wait, WAIT)
            yield b"data: last\n\n"
        return StreamingResponse(body(), media_type="text/event-stream")

    async def fails(request):
        raise RuntimeError("boom")

    async def socket(websocket):
        await websocket.accept()
        seen["socket"] = foreground.in_flight
        await websocket.send_text("hi")
        await websocket.close()

    app = Starlette(routes=[Route("/slow", slow), Route("/stream", stream), Route("/fails", fails),
                            WebSocketRoute("/ws", socket)],
                    middleware=[Middleware(ForegroundMiddleware, foreground=foreground)])
    sock = free_socket()
    host, port = sock.getsockname()
    server = uvicorn.Server(uvicorn.Config(app, log_level="critical", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    assert until(lambda: server.started)
    yield f"http://{host}:{port}", foreground, seen, release
    release.set()
    server.should_exit = True
    thread.join(WAIT)


def until(predicate) -> bool:
    deadline = time.monotonic() + WAIT
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def test_a_request_counts_until_its_answer_then_the_grace_passes(served):
    url, foreground, seen, release = served
    assert foreground.quiet()
    with httpx.Client(timeout=WAIT) as client:
        thread = threading.Thread(target=client.get, args=(f"{url}/slow",))
        thread.start()
        assert until(lambda: seen.get("inside") == 1)
        assert not foreground.quiet() and foreground.wait_quiet(0.05) is False  # bounded: it gives up
        release.set()
        thread.join(WAIT)
    assert foreground.in_flight == 0 and not foreground.quiet()  # just answered: the grace still runs
    assert foreground.wait_quiet(WAIT) and foreground.quiet()


def test_an_event_stream_counts_only_until_its_headers(served):
    url, foreground, seen, release = served
    with httpx.Client(timeout=WAIT) as client, client.stream("GET", f"{url}/stream") as response:
        lines = response.iter_lines()
        assert next(lines) == "data: first"
        assert foreground.in_flight == 0 and foreground.wait_quiet(WAIT)  # the stream is still open
        release.set()
        assert "data: last" in list(lines)


def test_errors_and_websockets_leave_the_count_right(served):
    url, foreground, seen, release = served
    with httpx.Client(timeout=WAIT) as client:
        assert client.get(f"{url}/fails").status_code == 500
    assert foreground.in_flight == 0
    import websockets.sync.client as ws_client

    with ws_client.connect(url.replace("http", "ws") + "/ws") as ws:
        assert ws.recv(timeout=WAIT) == "hi"
    assert seen["socket"] == 0 and foreground.in_flight == 0


def test_until_quiet_lets_the_event_loop_answer_meanwhile():
    foreground = Foreground(grace=0.01)

    async def main():
        foreground.begin()
        waiting = asyncio.create_task(foreground.until_quiet(WAIT))
        await asyncio.sleep(0.05)
        assert not waiting.done()  # still a request in flight
        foreground.end()
        assert await asyncio.wait_for(waiting, WAIT) is True
        foreground.begin()
        assert await foreground.until_quiet(0.03) is False  # bounded
        foreground.end()

    asyncio.run(main())
