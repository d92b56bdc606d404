"""Run the real `remgo` command line as a subprocess, the way a person or a script does."""

from __future__ import annotations

import os
import subprocess
import sys

from bench.harness.settings import REPO_ROOT


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REMGO_")}
    env["PYTHONPATH"] = str(REPO_ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.update(extra)
    return env


def remgo_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "orchestrator.cli.main", *args]


def remgo(*args: str, timeout: float = 90, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(remgo_cmd(*args), capture_output=True, text=True, timeout=timeout, env=cli_env(**env),
                          cwd=REPO_ROOT)
