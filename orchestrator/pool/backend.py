"""The one interface a pool backend offers the WorkerPool: the workers' devices, each worker's command and
transport, and closing. `local` (child processes, pool/local.py) or `ray` (one actor per worker across a
cluster, pool/ray/); everything above the transport is shared."""

from __future__ import annotations

from typing import Protocol

from orchestrator.pool.local import LocalBackend
from orchestrator.pool.transport import WorkerTransport
from orchestrator.settings import Settings


class PoolBackend(Protocol):
    name: str
    devices: list[str]  # one entry per worker: its device, or what the backend resolves it from

    def command(self, device: str, model_roots: list[str]) -> list[str]: ...

    def transport(self, index: int) -> WorkerTransport: ...

    async def close(self) -> None: ...


def make_backend(settings: Settings, devices: list[str] | None = None) -> PoolBackend:
    if settings.backend == "ray":
        if devices is not None:
            raise ValueError("devices: the ray backend places its workers itself")
        from orchestrator.pool.ray.backend import (
            RayBackend,  # only here: `import orchestrator.*` stays ray-free
        )

        return RayBackend(settings)
    return LocalBackend(settings, devices)
