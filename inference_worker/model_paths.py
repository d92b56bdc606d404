"""Which model files a task may name: absolute paths under one of the worker's `--model-root`s.

With no root configured every absolute path is allowed (a single-user local setup); a worker shared
by several users should always be started with its roots. Paths are normalised (`..` cannot climb out
of a root) but symbolic links inside a root are followed: placing one there is the owner's choice.
"""

from __future__ import annotations

import os

from contract.events import FailureKind
from contract.task import GenerateTask
from inference_worker.kernel import KernelError


def task_paths(task: GenerateTask) -> list[tuple[str, str]]:
    """(field path, file path) of every model file the task names."""
    paths = [("base_model.path", task.base_model.path)]
    if task.vae is not None:
        paths.append(("vae.path", task.vae.path))
    if task.refiner is not None:
        paths.append(("refiner.path", task.refiner.path))
    paths += [(f"loras[{i}].path", lora.path) for i, lora in enumerate(task.loras)]
    paths += [(f"embeddings[{i}].path", ref.path) for i, ref in enumerate(task.embeddings)]
    return paths


def _inside(path: str, root: str) -> bool:
    try:
        return os.path.commonpath([path, root]) == root
    except ValueError:  # different drives
        return False


def check_model_paths(task: GenerateTask, roots: tuple[str, ...]) -> None:
    norm_roots = [os.path.normpath(os.path.abspath(r)) for r in roots]
    for field, path in task_paths(task):
        if not os.path.isabs(path):
            raise KernelError(
                FailureKind.bad_request, f"{field} must be an absolute path, got {path!r}", field
            )
        if norm_roots and not any(_inside(os.path.normpath(path), r) for r in norm_roots):
            raise KernelError(
                FailureKind.unknown_model,
                f"{field} {path!r} is outside this worker's model roots {list(roots)}",
                field,
            )
