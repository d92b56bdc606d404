"""contract/ and orchestrator/ stay torch-free: importing every module of both must not load the heavy stack."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "diffusers", "transformers")

# Runs in a fresh interpreter so nothing this test process imported earlier can hide a leak.
PROBE = r"""
import importlib, json, pkgutil, sys

heavy = set(sys.argv[1].split(","))
imported, culprits = [], {}


def load(name):
    before = heavy & set(sys.modules)
    module = importlib.import_module(name)
    imported.append(name)
    for leaked in (heavy & set(sys.modules)) - before:
        culprits.setdefault(leaked, name)
    return module


for package_name in ("contract", "orchestrator"):
    package = load(package_name)
    for info in pkgutil.walk_packages(package.__path__, package_name + "."):
        load(info.name)
print(json.dumps({"imported": imported, "culprits": culprits}))
"""


def _probe() -> dict:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, ",".join(HEAVY)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"importing a module failed:\n{done.stderr}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_contract_and_orchestrator_never_import_torch():
    result = _probe()
    assert "contract.task" in result["imported"] and "contract.legacy" in result["imported"]
    assert "orchestrator.store.metadata.fooocus" in result["imported"]
    assert result["culprits"] == {}, f"heavy modules loaded (module → first importer): {result['culprits']}"


def test_the_probe_can_see_a_leak(tmp_path):
    """The probe itself must be able to fail: a package that imports a 'heavy' module is caught."""
    fake = tmp_path / "contract"
    fake.mkdir()
    probe = PROBE.replace('("contract", "orchestrator")', '("contract",)')
    (fake / "__init__.py").write_text("import colorsys  # stands in for torch\n")
    done = subprocess.run(
        [sys.executable, "-c", probe, "colorsys"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1])["culprits"] == {"colorsys": "contract"}
