"""`remgo serve` as a process: prints its URL, serves, and Ctrl-C stops it and its workers cleanly."""

import os
import signal
import subprocess
import sys
import time

import httpx

from tests.integration.server_harness import SMALL, free_socket, make_catalog
from tests.orchestrator.pool_settings import REPO_ROOT, kernel_spec


def test_serve_then_ctrl_c(tmp_path) -> None:
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    env = {
        **os.environ,
        "REMGO_CATALOG_DIR": str(make_catalog(tmp_path)),
        "REMGO_WORKER_KERNEL": kernel_spec(),
        "REMGO_WORKER_THREADS": "1",
        "REMGO_DEVICES": "cpu",
        "PYTHONPATH": str(REPO_ROOT),
    }
    cmd = [sys.executable, "-m", "orchestrator.cli", "serve", "--port", str(port),
           "--state-dir", str(tmp_path / "state"), "--outputs-dir", str(tmp_path / "out")]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            cwd=tmp_path)
    try:
        first = proc.stdout.readline()
        assert f"http://127.0.0.1:{port}" in first
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/health").json()["ready"]:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the server did not become ready"
            time.sleep(0.1)
        job = httpx.post(f"{url}/v1/jobs?wait=true", json=SMALL, timeout=30).json()
        assert job["status"] == "succeeded"
        worker_pid = httpx.get(f"{url}/v1/workers").json()["workers"][0]["pid"]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
        out = proc.stdout.read()
        assert "Traceback" not in out, out
        deadline = time.monotonic() + 10
        while _alive(worker_pid):
            assert time.monotonic() < deadline, "the worker outlived the orchestrator"
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is gone for our purposes
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return False
