"""`remgo-worker --make-demo-model PATH`: a small random-weight SDXL checkpoint that loads offline.

It lets the whole system run end to end with no download. Its images are noise. The file is a normal
single-file checkpoint (original key layout, written through checkpoint_keys) that carries its own
small pipeline skeleton in its safetensors metadata.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

from inference_worker.diffusers_kernel.loading import skeletons
from inference_worker.model_builders.checkpoint_keys import pipeline_state_dict
from inference_worker.model_builders.small_pipelines import (
    build_pipeline,
    small_skeleton_files,
    write_files,
)

DEMO_SEED = 20240101


def save_single_file(pipe: Any, path: str, arch: str, files: dict[str, str] | None = None) -> str:
    """Write `pipe` as one original-layout .safetensors file carrying its skeleton (atomically)."""
    from safetensors.torch import save_file

    files = files if files is not None else small_skeleton_files(arch)
    state = pipeline_state_dict(pipe)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".demo-", suffix=".safetensors", dir=folder)
    os.close(fd)
    try:
        save_file(state, tmp, metadata=skeletons.embed(files, arch))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; a model file is an ordinary file
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def make_demo_model(path: str, seed: int = DEMO_SEED) -> str:
    files = small_skeleton_files("sdxl", light=True)
    with tempfile.TemporaryDirectory(prefix="remgo-demo-") as tmp:
        pipe = build_pipeline(write_files(tmp, files), seed=seed)
        return save_single_file(pipe, path, "sdxl", files)
