"""A dispatcher wired to real workers (test kernels), a real job store, outputs and history."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

from bench.harness.in_process import until
from bench.harness.settings import pool_settings
from orchestrator.jobs.dispatcher import Dispatcher
from orchestrator.jobs.events import EventHub
from orchestrator.jobs.store import JobStore
from orchestrator.jobs.webhooks import WebhookSender
from orchestrator.pool.worker_pool import WorkerPool
from orchestrator.store.history.index import History, default_db_path
from orchestrator.store.outputs import OutputStore


@dataclass
class Rig:
    dispatcher: Dispatcher
    store: JobStore
    pool: WorkerPool
    events: EventHub
    outputs: OutputStore
    history: History


@contextlib.asynccontextmanager
async def rig(tmp_path: Path, *, ready: bool = True, **settings):
    s = pool_settings(tmp_path, **settings)
    store = JobStore(Path(s.state_dir) / "jobs.db")
    outputs = OutputStore(Path(s.outputs_dir))
    history = History(default_db_path(Path(s.outputs_dir)), outputs)
    pool = WorkerPool(s)
    events = EventHub()
    webhooks = WebhookSender(s.webhook_secret, backoff=s.webhook_backoff)
    dispatcher = Dispatcher(settings=s, store=store, pool=pool, events=events, outputs=outputs,
                            history=history, webhooks=webhooks)
    pool.start()
    dispatcher.start()
    if ready:
        await until(lambda: len(pool.idle_workers()) == len(pool.workers), 30)
    try:
        yield Rig(dispatcher, store, pool, events, outputs, history)
    finally:
        await dispatcher.stop()
        await pool.stop()
        await dispatcher.drain_units(5)
        await webhooks.drain(1)
        history.close()
        store.close()

