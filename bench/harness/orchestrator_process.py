"""`remgo serve` as a real child process, for what only a process can show: kill -9, restart, memory.

The settings go into a TOML file beside the state; workers are the fast test kernels. Everything is on
loopback and bounded in time; `close()` ends the server and any worker it left behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bench._server import free_port
from orchestrator.settings import Settings

REPO = Path(__file__).resolve().parents[2]


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no TOML for {value!r}")


def write_config(settings: Settings, path: Path, port: int) -> Path:
    keys = ("state_dir", "outputs_dir", "catalog_dir", "devices", "worker_cmd", "worker_kernel", "worker_threads",
            "worker_env", "worker_start_timeout", "watchdog_seconds", "respawn_backoff_max", "queue_limit",
            "api_keys", "event_queue_size", "preview_enabled")
    lines = [f"{k} = {_toml(getattr(settings, k))}" for k in keys if getattr(settings, k) is not None]
    lines += ["host = \"127.0.0.1\"", f"port = {port}", "log_level = \"warning\""]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class OrchestratorProcess:
    """`with OrchestratorProcess(settings, tmp) as orch:` — a running `remgo serve` on a free port."""

    def __init__(self, settings: Settings, workdir: Path, *, ready_timeout: float = 60.0) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = write_config(settings, Path(workdir) / f"remgo-{self.port}.toml", self.port)
        self.log = Path(workdir) / f"remgo-{self.port}.log"
        self.ready_timeout = ready_timeout
        self.proc: subprocess.Popen | None = None
        self.worker_pids: set[int] = set()
        self.client = httpx.Client(base_url=self.url, timeout=30)

    def start(self, *, workers_ready: bool = True) -> OrchestratorProcess:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "orchestrator.cli.main", "serve", "--config",
                                          str(self.config)], cwd=REPO, env=env, stdout=log, stderr=log)
        deadline = time.monotonic() + self.ready_timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"remgo serve exited with {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                health = self.client.get("/health").json()
                if not workers_ready or health["workers_ready"] == health["workers_total"]:
                    break
            if time.monotonic() > deadline:
                raise AssertionError(f"remgo serve not ready in {self.ready_timeout} s")
            time.sleep(0.05)
        self.remember_workers()
        return self

    def remember_workers(self) -> list[dict]:
        workers = self.client.get("/v1/workers").json()["workers"]
        self.worker_pids.update(w["pid"] for w in workers if w["pid"])
        return workers

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def rss_bytes(self) -> int:
        """The orchestrator's resident memory (workers are separate processes)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS")

    def kill9(self) -> None:
        """SIGKILL the orchestrator alone; its workers see their stdin close and exit by themselves."""
        self.remember_workers()
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def reap_workers(self, timeout: float = 15.0) -> list[int]:
        """Wait for every worker this server ran to be gone; kill any still there. Returns those killed."""
        deadline, left = time.monotonic() + timeout, set(self.worker_pids)
        while left and time.monotonic() < deadline:
            left = {pid for pid in left if _alive(pid)}
            time.sleep(0.05)
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return sorted(left)

    def close(self) -> None:
        self.stop()
        self.reap_workers()
        self.client.close()

    def __enter__(self) -> OrchestratorProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (not yet reaped by its parent) counts as gone.
    with contextlib.suppress(OSError):
        if Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z"):
            return False
    return True
