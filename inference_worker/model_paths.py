"""Which model files a task may name: absolute paths under one of the worker's `--model-root`s.

With no root configured every absolute path is allowed (a single-user local setup); a worker shared
by several users should always be started with its roots. The rule (docs/models.md, "Links"):
- a root counts both as given and by its real path, so a root reached through a link works whichever
  way the orchestrator names it (it sends the real paths of the folders its catalog scanned);
- a model path must lie inside a root as written, and may not contain `..` at all (lexical checks and
  the file system disagree about `link/..`, so none is accepted);
- links inside a root are followed wherever they point: only the owner of the folder can place one.
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
    method = task.method()
    if getattr(method, "upscaler", None) is not None:
        paths.append(("image_input.upscaler.path", method.upscaler.path))
    engine = getattr(method, "engine", None)
    if engine is not None:
        paths += [
            ("image_input.engine.head.path", engine.head.path),
            ("image_input.engine.patch.path", engine.patch.path),
        ]
    for i, prompt in enumerate(task.prompts()):
        paths.append((f"image_prompts[{i}].model.path", prompt.model.path))
        for part in ("image_encoder", "ip_negative"):
            ref = getattr(prompt, part)
            if ref is not None:
                paths.append((f"image_prompts[{i}].{part}.path", ref.path))
    return paths


def _inside(path: str, root: str) -> bool:
    try:
        return os.path.commonpath([path, root]) == root
    except ValueError:  # different drives
        return False


def check_model_paths(task: GenerateTask, roots: tuple[str, ...]) -> None:
    norm_roots = sorted(
        {os.path.normpath(os.path.abspath(r)) for r in roots} | {os.path.realpath(r) for r in roots}
    )
    for field, path in task_paths(task):
        if not os.path.isabs(path):
            raise KernelError(
                FailureKind.bad_request, f"{field} must be an absolute path, got {path!r}", field
            )
        if ".." in path.replace("\\", "/").split("/"):
            raise KernelError(FailureKind.bad_request, f"{field} must not contain '..', got {path!r}", field)
        if norm_roots and not any(_inside(os.path.normpath(path), r) for r in norm_roots):
            raise KernelError(
                FailureKind.unknown_model,
                f"{field} {path!r} is outside this worker's model roots {list(roots)}",
                field,
            )
