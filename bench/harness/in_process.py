"""The orchestrator under uvicorn on a free loopback port inside the caller's event loop, and the waits a
client of it needs (a job's status, a condition, the events of an SSE stream)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from dataclasses import dataclass

import httpx
import uvicorn
from starlette.applications import Starlette

from orchestrator.app import Services, create_app
from orchestrator.settings import Settings


@dataclass
class Running:
    url: str
    services: Services
    client: httpx.AsyncClient
    app: Starlette | None = None

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://")


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextlib.asynccontextmanager
async def serve_app(app, sock: socket.socket | None = None):
    """Any ASGI app under uvicorn; yields its base URL."""
    sock = sock or free_socket()
    config = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=5)
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # older uvicorn; newer ones only capture in the main thread
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    host, port = sock.getsockname()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


@contextlib.asynccontextmanager
async def running(settings: Settings, *, ready: bool = True, headers: dict | None = None):
    app = create_app(settings)
    async with serve_app(app) as url:
        # Bodies are JSON, as every client of the API sends them (a body of another type is refused).
        headers = {"content-type": "application/json", **(headers or {})}
        async with httpx.AsyncClient(base_url=url, timeout=60, headers=headers) as client:
            run = Running(url=url, services=app.state.services, client=client, app=app)
            if ready:
                await until(lambda: len(run.services.pool.idle_workers()) == len(run.services.pool.workers), 30)
            yield run


async def until(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


async def poll(client: httpx.AsyncClient, job_id: str, status: str, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = (await client.get(f"/v1/jobs/{job_id}")).json()
        if job["status"] == status:
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} is {job['status']}, not {status}")
        await asyncio.sleep(0.02)


async def sse_events(client: httpx.AsyncClient, path: str, until_type: str | None = None,
                     count: int | None = None) -> list[tuple[str, dict]]:
    """(event type, data) pairs from an SSE stream, until it ends, `until_type` arrives or `count` are read."""
    import json

    events: list[tuple[str, dict]] = []
    async with client.stream("GET", path) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        kind = None
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                events.append((kind, json.loads(line[6:])))
                if kind == until_type or (count is not None and len(events) >= count):
                    break
    return events
