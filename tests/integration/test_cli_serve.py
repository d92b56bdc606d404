"""`remgo serve` as a process: prints its URL, serves, and Ctrl-C stops it and its workers cleanly."""

import os
import signal
import subprocess
import sys
import time

import httpx

from bench.harness.in_process import free_socket
from bench.harness.settings import REPO_ROOT, SMALL, kernel_spec, make_catalog


def _serve_env(tmp_path) -> dict:
    return {
        **os.environ,
        "REMGO_CATALOG_DIR": str(make_catalog(tmp_path)),
        "REMGO_WORKER_KERNEL": kernel_spec(),
        "REMGO_WORKER_THREADS": "1",
        "REMGO_DEVICES": "cpu",
        "PYTHONPATH": str(REPO_ROOT),
    }


def _serve(tmp_path, state: str = "state", *args: str, **env: str) -> tuple[subprocess.Popen, str]:
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    cmd = [sys.executable, "-m", "orchestrator.cli.main", "serve", "--port", str(port),
           "--state-dir", str(tmp_path / state), "--outputs-dir", str(tmp_path / "out"), *args]
    proc = subprocess.Popen(cmd, env={**_serve_env(tmp_path), **env}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, cwd=tmp_path)
    return proc, f"http://127.0.0.1:{port}"


def _ready(proc: subprocess.Popen, url: str) -> None:
    first = proc.stdout.readline()
    assert url in first, first
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{url}/health").json()["ready"]:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "the server did not become ready"
        time.sleep(0.1)


def test_serve_then_ctrl_c(tmp_path) -> None:
    proc, url = _serve(tmp_path)
    try:
        _ready(proc, url)
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


def test_a_second_server_on_the_same_state_folder_refuses_to_start(tmp_path) -> None:
    first, url = _serve(tmp_path)
    try:
        _ready(first, url)
        second, _ = _serve(tmp_path)
        out, _ = second.communicate(timeout=60)
        assert second.returncode == 2
        assert f"another remgo server (pid {first.pid}) is using the state folder" in out, out
        assert "Traceback" not in out
        # The lock is the OS's: a server killed outright leaves none behind.
        first.kill()
        first.wait()
        third, url3 = _serve(tmp_path)
        try:
            _ready(third, url3)
        finally:
            third.send_signal(signal.SIGINT)
            third.wait(30)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()


def test_an_api_key_in_a_url_never_reaches_the_log(tmp_path) -> None:
    proc, url = _serve(tmp_path, "state", "--log-level", "info", REMGO_API_KEYS="sekrit-key-42")
    try:
        _ready(proc, url)
        # an image route takes the key in the URL (for <img> tags); other routes do not
        assert httpx.get(f"{url}/outputs/none.png?api_key=sekrit-key-42").status_code == 404
        assert httpx.get(f"{url}/v1/jobs?api_key=sekrit-key-42").status_code == 401
        assert httpx.get(f"{url}/v1/jobs", headers={"Authorization": "Bearer sekrit-key-42"}).status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    assert "GET /outputs/none.png?api_key=*** HTTP/1.1" in out, out[-2000:]
    assert "sekrit-key-42" not in out
