"""Losing a worker on the ray backend mid-job: its child or its actor. The job finishes; nothing hangs."""

from __future__ import annotations

import os
import signal

import pytest

from bench.harness.in_process import poll, running, until
from bench.harness.settings import SMALL
from orchestrator.pool.handle import WorkerState
from tests.cluster.ray_harness import SLOW, busy, pid_alive, ray_settings, started

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]


async def test_kill_9_of_the_worker_child(tmp_path, ray_test_cluster) -> None:
    settings = ray_settings(tmp_path, ray_test_cluster.address, workers=2, step_delay=0.05)
    async with running(settings) as srv:
        await srv.client.post("/v1/jobs?id=child", json=SLOW)
        await started(srv, "child")
        [victim] = busy(srv)
        pid, actor_pid = victim.pid, victim.placement.actor_pid
        os.kill(pid, signal.SIGKILL)  # the worker process inside the actor, on "its node" (this machine)
        job = await poll(srv.client, "child", "succeeded", timeout=40)
        assert [i["worker"] for i in job["images"]] != [victim.name]  # retried on the other actor
        await until(lambda: victim.state is WorkerState.idle, 30)
        # The same actor started a fresh worker.
        assert victim.last_exit == "exited with code -9" and victim.restarts == 1
        assert victim.placement.actor_pid == actor_pid and victim.pid != pid


async def test_kill_9_of_the_actor_process_and_ray_restarts_it(tmp_path, ray_test_cluster) -> None:
    settings = ray_settings(tmp_path, ray_test_cluster.address, workers=2, step_delay=0.05, ray_max_restarts=1)
    async with running(settings) as srv:
        await srv.client.post("/v1/jobs?id=actor", json=SLOW)
        await started(srv, "actor")
        [victim] = busy(srv)
        child, actor_pid = victim.pid, victim.placement.actor_pid
        os.kill(actor_pid, signal.SIGKILL)
        job = await poll(srv.client, "actor", "succeeded", timeout=40)
        assert [i["worker"] for i in job["images"]] != [victim.name]
        assert victim.last_exit.startswith("lost its Ray actor"), victim.last_exit
        await until(lambda: victim.state is WorkerState.idle, 40)
        assert victim.placement.actor_pid != actor_pid and victim.restarts == 1
        # The orphaned worker saw EOF on its stdin and exited by itself.
        await until(lambda: not pid_alive(child), 15)
        r = await srv.client.post("/v1/jobs?wait=true", json={**SMALL, "image_number": 2})
        assert r.json()["status"] == "succeeded"
