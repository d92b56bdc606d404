"""What the orchestrator benches share: a `remgo serve` subprocess on a throwaway catalog, and the base of
their timing kernels (no model: the worker's part of a figure is kept out of it). bench/harness makes its
catalogs and ports with the same helpers. Standard library only: a bench's worker imports this file."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PLACEHOLDER = "bench.safetensors"


class BenchKernel:
    """Offers every sampler and scheduler, loads nothing; subclasses make the images."""

    name = "bench"

    def samplers(self) -> list[str]:
        from contract.task import Sampler

        return [s.value for s in Sampler]

    def schedulers(self) -> list[str]:
        from contract.task import Scheduler

        return [s.value for s in Scheduler]

    def check(self, task) -> None:
        return None

    def load(self, task, steps) -> None:
        return None

    def loaded_models(self) -> list[str]:
        return []

    def free_memory(self) -> None:
        return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def placeholder_catalog(workdir: Path, checkpoint: str) -> Path:
    """`workdir/catalog`: the repository's presets and styles and one placeholder checkpoint (the kernels
    of the benches and tests never open it); made once, reused by every later server on `workdir`."""
    root = workdir / "catalog"
    if not root.exists():
        shutil.copytree(REPO / "catalog" / "presets", root / "presets")
        shutil.copytree(REPO / "catalog" / "styles", root / "styles")
        (root / "models" / "checkpoints").mkdir(parents=True)
        (root / "models" / "checkpoints" / checkpoint).write_bytes(b"placeholder")
    return root


def lower_priority(pid: int) -> None:
    """Nice 19 for every thread of process `pid` (threads it starts later inherit it), and for its scheduling
    group: a worker runs in a session of its own, and where Linux groups sessions (autogroup) a nice value
    only ranks threads inside their own group, so the group's share is lowered as well."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            os.setpriority(os.PRIO_PROCESS, int(tid), 19)
        except (ProcessLookupError, PermissionError):
            pass
    try:
        with open(f"/proc/{pid}/autogroup", "w") as f:
            f.write("19")
    except OSError:
        pass  # no autogroup in this kernel: the threads' nice is enough


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (the workers of a server), read from /proc."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as f:
                parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
        except (ValueError, OSError, IndexError):
            continue
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        children = [c for c, p in parents.items() if p == parent]
        found += children
        todo += children
    return found


class Server:
    """`remgo serve` in a subprocess with its own state and outputs under `run_dir`, on `workdir`'s catalog
    (the repository's presets and styles, one placeholder checkpoint), its workers running `kernel`."""

    def __init__(self, workdir: Path, kernel: str, *, devices: int = 1, run_dir: Path | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.catalog = placeholder_catalog(workdir, PLACEHOLDER)
        full_env = {
            **os.environ, "PYTHONPATH": str(REPO), "REMGO_CATALOG_DIR": str(self.catalog),
            "REMGO_DEVICES": ",".join(["cpu"] * devices), "REMGO_WORKER_THREADS": "1",
            "REMGO_WORKER_KERNEL": kernel, "REMGO_LOG_LEVEL": "warning", "REMGO_PREVIEW_ENABLED": "false",
            "REMGO_QUEUE_LIMIT": "100000", **(env or {}),
        }
        run = run_dir or workdir / f"run-{self.port}"  # one state folder per server
        cmd = [sys.executable, "-m", "orchestrator.cli.main", "serve", "--port", str(self.port),
               "--state-dir", str(run / "state"), "--outputs-dir", str(run / "outputs")]
        self.proc = subprocess.Popen(cmd, env=full_env, cwd=workdir, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)

    def wait_ready(self, client, *, nice_workers: bool = False) -> None:
        """Until every worker is ready; `nice_workers` then lowers their priority, so on a small machine
        their image making does not take the orchestrator's CPU."""
        import httpx

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                health = client.get(f"{self.url}/health").json()
                if health["workers_ready"] == health["workers_total"]:
                    for pid in descendants(self.proc.pid) if nice_workers else ():
                        lower_priority(pid)
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError("the server did not become ready")

    def rss_mib(self) -> float:
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        self.proc.send_signal(2)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
