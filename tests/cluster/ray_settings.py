"""Settings for the orchestrator on the test cluster: the ray backend, test kernels, short time limits."""

from __future__ import annotations

from pathlib import Path

import msgspec

from orchestrator.settings import Settings
from tests.integration.server_harness import server_settings

# A lost actor or node must surface within a few seconds; the heartbeat is a quarter of this.
STREAM_TIMEOUT = 3.0


def ray_settings(tmp_path: Path, address: str, *, workers: int = 3, gpus: bool = False, **overrides) -> Settings:
    """`gpus`: devices = auto, so each worker runs on the (fake) GPU Ray gives its actor; else on the cpu."""
    values = dict(backend="ray", workers=workers, ray_address=address, ray_num_gpus=1.0, ray_num_cpus=0.5,
                  ray_stream_timeout=STREAM_TIMEOUT, worker_start_timeout=60.0)
    values.update(overrides)
    settings = server_settings(tmp_path, **values)
    return msgspec.structs.replace(settings, devices=["auto"]) if gpus else settings
