"""The orchestrator on the test cluster: settings (ray backend, test kernels, short time limits) and waits."""

from __future__ import annotations

import os
from pathlib import Path

import msgspec

from bench.harness.in_process import Running, until
from bench.harness.settings import SMALL, server_settings
from orchestrator.pool.handle import WorkerHandle, WorkerState
from orchestrator.settings import Settings

# A lost actor or node must surface within a few seconds; the heartbeat is a quarter of this.
STREAM_TIMEOUT = 3.0


def ray_settings(tmp_path: Path, address: str, *, workers: int = 3, gpus: bool = False, **overrides) -> Settings:
    """`gpus`: devices = auto, so each worker runs on the (fake) GPU Ray gives its actor; else on the cpu."""
    values = dict(backend="ray", workers=workers, ray_address=address, ray_num_gpus=1.0, ray_num_cpus=0.5,
                  ray_stream_timeout=STREAM_TIMEOUT, worker_start_timeout=60.0)
    values.update(overrides)
    settings = server_settings(tmp_path, **values)
    return msgspec.structs.replace(settings, devices=["auto"]) if gpus else settings


SLOW = {**SMALL, "overwrite_step": 30}  # 1.5 s an image at 0.05 s a step


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def started(srv: Running, job_id: str, step: int = 2) -> None:
    """Until the job's progress has reached `step`."""
    runs = srv.services.dispatcher.runs
    await until(lambda: job_id in runs and (runs[job_id].latest or runs[job_id].progress()).step >= step, 30)


def busy(srv: Running) -> list[WorkerHandle]:
    return [w for w in srv.services.pool.workers if w.state is WorkerState.busy]
