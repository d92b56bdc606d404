"""Orchestrator settings for the tests and the benches: real worker processes on the fast kernels of
worker_kernels.py, a throwaway catalog, and a small request those kernels answer in milliseconds."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from bench._server import placeholder_catalog
from orchestrator.settings import Settings

KERNELS_FILE = Path(__file__).resolve().with_name("worker_kernels.py")
REPO_ROOT = Path(__file__).resolve().parents[2]
CHECKPOINT = "tiny.safetensors"
SMALL = {"prompt": "a red fox", "base_model_name": CHECKPOINT, "overwrite_width": 256, "overwrite_height": 256,
         "overwrite_step": 3, "image_number": 1, "image_seed": 1000}


def kernel_spec(name: str = "ColorKernel") -> str:
    return f"{KERNELS_FILE}:{name}"


def worker_cmd() -> list[str]:
    return [sys.executable, "-m", "inference_worker"]


def pool_settings(tmp_path: Path, *, kernel: str = "ColorKernel", devices: int = 1, step_delay: float = 0.0,
                  **overrides) -> Settings:
    env = {"REMGO_TEST_STEP_DELAY": str(step_delay), "PYTHONPATH": str(REPO_ROOT)}
    if os.environ.get("PYTHONPATH"):
        env["PYTHONPATH"] += os.pathsep + os.environ["PYTHONPATH"]
    values = dict(
        state_dir=str(tmp_path / "state"), outputs_dir=str(tmp_path / "outputs"),
        catalog_dir=str(tmp_path / "catalog"), devices=["cpu"] * devices, worker_cmd=worker_cmd(),
        worker_kernel=kernel_spec(kernel), worker_threads=1, worker_env=env, worker_start_timeout=60.0,
        respawn_backoff_max=0.5, webhook_backoff=0.05,
    )
    values.update(overrides)
    return Settings(**values)


def make_catalog(tmp_path: Path) -> Path:
    """Presets and styles of the repository, one placeholder checkpoint named CHECKPOINT."""
    return placeholder_catalog(tmp_path, CHECKPOINT)


def server_settings(tmp_path: Path, **overrides) -> Settings:
    """pool_settings on a catalog made by make_catalog (unless `catalog_dir` is given)."""
    overrides.setdefault("catalog_dir", str(make_catalog(tmp_path)))
    return pool_settings(tmp_path, **overrides)
