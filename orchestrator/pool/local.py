"""LocalBackend: each worker a child process of the orchestrator, talked to over its stdin and stdout."""

from __future__ import annotations

from orchestrator.pool.command import worker_command
from orchestrator.pool.transport import SubprocessTransport, WorkerTransport
from orchestrator.settings import Settings, resolve_devices


class LocalBackend:
    """Each worker a child process of the orchestrator: one per device, or `workers` of them on the cpu."""

    name = "local"

    def __init__(self, settings: Settings, devices: list[str] | None = None) -> None:
        self.settings = settings
        self.devices = devices if devices is not None else resolve_devices(settings.devices)
        if devices is None and settings.workers is not None and settings.devices == ["cpu"]:
            self.devices = ["cpu"] * settings.workers

    def command(self, device: str, model_roots: list[str]) -> list[str]:
        return worker_command(self.settings, device, model_roots)

    def transport(self, index: int) -> WorkerTransport:
        return SubprocessTransport()

    async def close(self) -> None:
        return None
