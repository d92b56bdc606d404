"""`remgo-worker --make-demo-model PATH`: a small random-weight SDXL checkpoint that loads offline.

It lets the whole system run end to end with no download. Its images are noise. The file is a normal
single-file checkpoint (original key layout, written through checkpoint_keys) that carries its own
small pipeline skeleton in its safetensors metadata. `make_inpainting_model` writes the 9-channel
inpainting variant the same way (the tests' inpainting checkpoints).
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


def save_single_file(pipe: Any, path: str, arch: str, files: dict[str, str] | None = None, *,
                     embed_skeleton: bool = True) -> str:
    """Write `pipe` as one original-layout .safetensors file carrying its skeleton (atomically).

    `embed_skeleton=False` writes the tensors alone, as users' checkpoints are: the loader then takes the
    shipped skeleton of the architecture the header shows (`REMGO_MODEL_CONFIGS` points at small ones)."""
    from safetensors.torch import save_file

    files = files if files is not None else small_skeleton_files(arch)
    state = pipeline_state_dict(pipe)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".demo-", suffix=".safetensors", dir=folder)
    os.close(fd)
    try:
        save_file(state, tmp, metadata=skeletons.embed(files, arch) if embed_skeleton else None)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; a model file is an ordinary file
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def make_inpainting_model(path: str, arch: str = "sdxl", seed: int = 0, *, embed_skeleton: bool = True) -> str:
    """A small random-weight inpainting checkpoint (SDXL or SD 1.5; its UNet's first convolution weight is
    [C, 9, 3, 3]) in the original single-file layout."""
    files = small_skeleton_files(arch, inpaint=True)
    with tempfile.TemporaryDirectory(prefix="remgo-inpaint-") as tmp:
        pipe = build_pipeline(write_files(tmp, files), seed=seed)
        return save_single_file(pipe, path, arch, files, embed_skeleton=embed_skeleton)


def make_demo_model(path: str, seed: int = DEMO_SEED) -> str:
    files = small_skeleton_files("sdxl", light=True)
    with tempfile.TemporaryDirectory(prefix="remgo-demo-") as tmp:
        pipe = build_pipeline(write_files(tmp, files), seed=seed)
        return save_single_file(pipe, path, "sdxl", files)
