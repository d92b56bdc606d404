"""The import rule of the house (pyproject.toml's import-linter contracts): layers one way, the core never
importing a face, the benches never importing the tests, no cycles. Checked by `lint-imports` itself, on
this tree and on a copy broken on purpose."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")
PACKAGES = ("contract", "orchestrator", "inference_worker", "bench", "tests")


def lint(where: Path) -> subprocess.CompletedProcess:
    """`lint-imports` with `where`'s packages first on the path and its pyproject's contracts."""
    return subprocess.run([str(LINT), "--config", str(where / "pyproject.toml"), "--no-cache"], cwd=where,
                          env={"PYTHONPATH": str(where), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def copy(tmp_path_factory) -> Path:
    where = tmp_path_factory.mktemp("tree")
    shutil.copy(ROOT / "pyproject.toml", where)
    for name in PACKAGES:
        shutil.copytree(ROOT / name, where / name, ignore=shutil.ignore_patterns("__pycache__", "ui"))
    return where


def test_the_tree_keeps_every_contract() -> None:
    done = lint(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


@pytest.mark.parametrize(("module", "line", "broken"), [
    # the core rendering HTTP views again
    ("orchestrator/jobs/run.py", "from orchestrator.api import views", "the core never imports a face"),
    # a cycle hidden in a function: the history index calling back into its scan
    ("orchestrator/store/history/index.py", "def _later():\n    from orchestrator.store.history import scan",
     "no import cycles"),
    # the pool reaching up into the job core
    ("orchestrator/pool/handle.py", "import orchestrator.jobs.store", "faces → core → pool"),
    # the kernel reaching for a test-model builder
    ("inference_worker/diffusers_kernel/kernel.py", "import inference_worker.model_builders",
     "the model builders stay outside the kernel"),
    # the benches' shared harness borrowing a helper from the tests
    ("bench/harness/settings.py", "from tests.tiny_models import tiny_models", "the benches never import the tests"),
])
def test_a_broken_rule_is_reported(copy, module, line, broken) -> None:
    path = copy / module
    original = path.read_text()
    path.write_text(original + "\n\n" + line + "\n")
    try:
        done = lint(copy)
    finally:
        path.write_text(original)
    assert done.returncode != 0
    assert f"{broken}" in done.stdout and "BROKEN" in done.stdout, done.stdout
