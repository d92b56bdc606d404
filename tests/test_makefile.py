"""The README's commands as make runs them: the port and host come from one place."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _serve_line(*args: str, **env: str) -> str:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    out = subprocess.run(["make", "-n", "run", *args], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={**os.environ, **env}).stdout
    return next(line for line in out.splitlines() if "remgo serve" in line)


def test_make_run_leaves_host_and_port_to_remgo_serve():
    """No flag from make: remgo serve reads REMGO_PORT / REMGO_HOST, so both commands agree; a shell's own
    HOST variable (zsh sets it to the machine's name) does not become the bind address."""
    line = _serve_line(REMGO_PORT="18888", HOST="my-laptop", PORT="1")
    assert line.split("remgo serve", 1)[1].split() == [], line


def test_remgo_port_is_the_port_remgo_serve_uses():
    from orchestrator.settings import load_settings

    assert load_settings(env={"REMGO_PORT": "18888"}).port == 18888
