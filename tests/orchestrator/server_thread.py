"""A real orchestrator (uvicorn, real worker processes) on a background thread, for tests that block:
browser tests and tests that run the `remgo` command as a subprocess."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx

from orchestrator.settings import Settings


class ServerThread:
    """`with ServerThread(settings) as srv:` serves on a free loopback port until the block ends."""

    def __init__(self, settings: Settings, ready_timeout: float = 60.0) -> None:
        self.settings = settings
        self.ready_timeout = ready_timeout
        self.url = ""
        self.api_key = settings.api_keys[0] if settings.api_keys else None
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._server = None
        self._thread = threading.Thread(target=self._run, name="remgo-test-server", daemon=True)

    def _run(self) -> None:
        import uvicorn

        from bench.harness.in_process import free_socket
        from orchestrator.app import create_app

        try:
            sock = free_socket()
            host, port = sock.getsockname()
            self.url = f"http://{host}:{port}"
            self.app = create_app(self.settings)
            config = uvicorn.Config(self.app, log_level="warning", lifespan="on", timeout_graceful_shutdown=5)
            self._server = uvicorn.Server(config)
            self._server.install_signal_handlers = lambda: None
            loop = asyncio.new_event_loop()
            task = loop.create_task(self._server.serve(sockets=[sock]))

            async def wait_started() -> None:
                while not self._server.started and not task.done():
                    await asyncio.sleep(0.01)
                self._started.set()
                await task

            loop.run_until_complete(wait_started())
            loop.close()
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            self._error = exc
            self._started.set()

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=self.headers(), timeout=30)

    def cancel_active(self) -> None:
        """Cancel every queued or running job: a test that fails half-way must not leave a job holding the
        worker this module's other tests share (the test kernel's HOLD jobs run until they are stopped)."""
        with self.client() as client:
            for status in ("running", "queued"):
                for job in client.get("/v1/jobs", params={"status": status, "limit": 500}).json()["jobs"]:
                    client.post(f"/v1/jobs/{job['id']}/cancel")

    def __enter__(self) -> ServerThread:
        self._thread.start()
        self._started.wait(30)
        if self._error is not None:
            raise self._error
        deadline = time.monotonic() + self.ready_timeout
        while not httpx.get(f"{self.url}/health").json()["ready"]:
            assert time.monotonic() < deadline, "no worker became ready"
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        if self._server is not None:
            self._server.should_exit = True
        self._thread.join(30)


def wait_job(client: httpx.Client, job_id: str, statuses: set[str], timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in statuses:
            return job
        assert time.monotonic() < deadline, f"job {job_id} is {job['status']}, not one of {statuses}"
        time.sleep(0.05)
