"""WorkerPool: one worker process per configured device, kept alive.

`start()` returns at once: each worker is spawned and health-checked by its own supervisor task, so
HTTP serves while workers load. A worker that exits is respawned with exponential backoff (reset once
it has stayed up a minute); a busy worker silent for `watchdog_seconds` is killed, which respawns it.
The dispatcher sees only `idle_workers()` and the `on_change` / `on_progress` callbacks, whichever backend
runs the processes: `LocalBackend` (child processes, one per device) or, with `backend = "ray"`,
orchestrator.pool.ray.backend (one Ray actor per worker across a cluster). A backend names the workers' devices
and commands and gives each handle its transport; everything above the transport is shared.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable

from contract.events import Progress
from contract.rpc import Health
from orchestrator.common.foreground import Foreground
from orchestrator.pool.backend import make_backend
from orchestrator.pool.handle import StartError, WorkerHandle, WorkerState
from orchestrator.settings import Settings

log = logging.getLogger("remgo.workers")

_STABLE_SECONDS = 60.0
_FIRST_BACKOFF = 0.5


class WorkerPool:
    def __init__(self, settings: Settings, *, devices: list[str] | None = None,
                 on_progress: Callable[[WorkerHandle, Progress], None] | None = None,
                 on_change: Callable[[], None] | None = None,
                 on_health: Callable[[Health], None] | None = None,
                 model_roots: list[str] | None = None, foreground: Foreground | None = None) -> None:
        self.settings = settings
        self.backend = make_backend(settings, devices)
        self.devices = self.backend.devices
        self.model_roots = (list(model_roots) if model_roots is not None
                            else [os.path.realpath(r) for r in settings.model_roots])
        # Callbacks may be set after construction (the dispatcher is built with the pool).
        self.on_progress = on_progress or (lambda worker, progress: None)
        self.on_change = on_change or (lambda: None)
        self.on_health = on_health or (lambda health: None)
        self.workers = [
            WorkerHandle(f"w{i}", device, self.backend.command(device, self.model_roots),
                         env=dict(settings.worker_env),
                         on_progress=lambda worker, progress: self.on_progress(worker, progress),
                         transport=self.backend.transport(i), foreground=foreground)
            for i, device in enumerate(self.devices)
        ]
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self._ready = asyncio.Event()

    def start(self) -> None:
        """Spawn every worker in the background; returns immediately."""
        self._stopping = False
        self._tasks = [asyncio.create_task(self._supervise(w), name=f"supervise {w.name}") for w in self.workers]
        self._tasks.append(asyncio.create_task(self._watchdog(), name="worker watchdog"))

    def idle_workers(self) -> list[WorkerHandle]:
        return [w for w in self.workers if w.state is WorkerState.idle and w.connected and not w.outdated]

    def set_model_roots(self, roots: list[str]) -> bool:
        """New folders to accept models under (after a rescan found others). Workers started with the old
        ones are restarted with the new command as soon as each is idle. True when anything changed."""
        if roots == self.model_roots:
            return False
        self.model_roots = list(roots)
        for w, device in zip(self.workers, self.devices, strict=True):
            w.cmd = self.backend.command(device, self.model_roots)
            w.outdated = w.transport.started
        self._restart_outdated()
        return True

    def _restart_outdated(self) -> None:
        for w in self.workers:
            if w.outdated and w.state is WorkerState.idle and not self._stopping:
                log.info("worker %s restarts to take the catalog's new model folders", w.name)
                w.outdated = False
                w.state, w.kill_reason = WorkerState.restarting, "restarted to take the catalog's new model folders"
                self._tasks.append(asyncio.create_task(w.end_process(10.0), name=f"restart {w.name}"))

    def by_name(self, name: str) -> WorkerHandle | None:
        return next((w for w in self.workers if w.name == name), None)

    async def wait_ready(self, timeout: float | None = None) -> bool:
        """Until at least one worker is idle (True) or `timeout` passes (False)."""
        try:
            await asyncio.wait_for(self._ready.wait(), timeout)
            return True
        except TimeoutError:
            return False

    async def _supervise(self, worker: WorkerHandle) -> None:
        backoff = _FIRST_BACKOFF
        while not self._stopping:
            began = time.monotonic()
            try:
                health = await worker.spawn(self.settings.worker_start_timeout)
            except StartError as exc:
                worker.state, worker.error = WorkerState.failed, str(exc)
                log.error("worker %s (%s) did not start: %s", worker.name, worker.device, exc)
                worker.kill()
            except Exception as exc:  # noqa: BLE001 - the supervisor must outlive any one failed start
                worker.state, worker.error = WorkerState.failed, f"{type(exc).__name__}: {exc}"
                log.exception("worker %s (%s) did not start", worker.name, worker.device)
                worker.kill()
            else:
                log.info("worker %s (%s) ready: pid %s, kernel %s", worker.name, worker.device,
                         worker.pid, health.kernel)
                self.on_health(health)
                self._ready.set()
                self.on_change()
            if worker.transport.started:
                code = await worker.wait_exit()
                if self._stopping:
                    break
                worker.last_exit = worker.kill_reason or worker.exit_reason or f"exited with code {code}"
                if worker.state is not WorkerState.failed:
                    log.warning("worker %s (%s) %s; respawning", worker.name, worker.device, worker.last_exit)
                    worker.state = WorkerState.restarting
            elif self._stopping:
                break
            worker.restarts += 1
            self.on_change()
            if time.monotonic() - began > _STABLE_SECONDS:
                backoff = _FIRST_BACKOFF
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.settings.respawn_backoff_max)

    async def _watchdog(self) -> None:
        limit = self.settings.watchdog_seconds
        while not self._stopping:
            await asyncio.sleep(min(1.0, limit / 4))
            self._restart_outdated()  # a busy worker whose folders changed, now done with its task
            now = time.monotonic()
            for w in self.workers:
                if w.state is WorkerState.busy and now - w.last_activity > limit:
                    log.error("worker %s sent no progress for %.0f s on task %s; killing it",
                              w.name, now - w.last_activity, w.current_task)
                    w.kill_reason = f"killed by the watchdog: no progress for {limit:g} s"
                    w.state = WorkerState.restarting
                    w.kill()

    async def refresh(self, worker: WorkerHandle) -> None:
        """Re-read a worker's health (loaded models) after a task; failures are left to the supervisor."""
        try:
            self.on_health(await worker.refresh_health(timeout=5))
        except Exception:  # noqa: BLE001 - a dying worker is handled by its supervisor
            pass

    async def stop(self, timeout: float = 10.0) -> None:
        """Shut every worker down (shutdown RPC → terminate → kill) and end the supervisors."""
        self._stopping = True
        await asyncio.gather(*(w.shutdown(timeout) for w in self.workers), return_exceptions=True)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for w in self.workers:
            w.state = WorkerState.stopped
        await self.backend.close()
