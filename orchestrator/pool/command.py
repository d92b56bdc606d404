"""The worker executable's command line, the same for every backend."""

from __future__ import annotations

from orchestrator.settings import Settings


def worker_command(settings: Settings, device: str | None, model_roots: list[str]) -> list[str]:
    """The worker's command line; without `--device` when the backend picks it where the worker runs.

    `model_roots` are the folders the catalog scanned (Catalog.worker_roots): the worker accepts a model
    path only inside one of them, so they must be the same folders, given by their real paths."""
    cmd = [*settings.worker_cmd] + (["--device", device] if device is not None else [])
    if settings.worker_kernel:
        cmd += ["--kernel", settings.worker_kernel]
    if settings.worker_threads:
        cmd += ["--threads", str(settings.worker_threads)]
    for root in model_roots:
        cmd += ["--model-root", root]
    if settings.allow_unsafe_pickles:
        cmd.append("--allow-pickle")
    return cmd
