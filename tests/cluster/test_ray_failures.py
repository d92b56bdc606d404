"""Losing a worker on the ray backend mid-job: its child, its actor, its node. The job finishes; nothing hangs."""

from __future__ import annotations

import os
import signal

import pytest

from orchestrator.worker_handle import WorkerState
from tests.cluster.ray_settings import STREAM_TIMEOUT, ray_settings
from tests.integration.server_harness import SMALL, poll, running, until

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]
SLOW = {**SMALL, "overwrite_step": 30}


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def started(srv, job_id: str, step: int = 2) -> None:
    runs = srv.services.dispatcher.runs
    await until(lambda: job_id in runs and (runs[job_id].latest or runs[job_id].progress()).step >= step, 30)


def busy(srv) -> list:
    return [w for w in srv.services.pool.workers if w.state is WorkerState.busy]


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


async def test_removing_a_node_mid_job(tmp_path, ray_test_cluster) -> None:
    settings = ray_settings(tmp_path, ray_test_cluster.address, gpus=True, step_delay=0.05)
    try:
        async with running(settings) as srv:
            await srv.client.post("/v1/jobs?id=node", json={**SLOW, "image_number": 3})
            await until(lambda: len(busy(srv)) == 3, 30)
            await started(srv, "node")
            lost_node = ray_test_cluster.gpu_node.node_id
            lost = [w for w in srv.services.pool.workers if w.placement.node_id == lost_node]
            assert len(lost) == 2
            ray_test_cluster.remove_gpu_node()
            # Both lost workers are seen gone within the stream's time limit (plus a poll), not Ray's minutes.
            await until(lambda: all(w.state is not WorkerState.busy for w in lost), STREAM_TIMEOUT * 3)
            job = await poll(srv.client, "node", "succeeded", timeout=60)
            assert len(job["images"]) == 3
            assert {i["worker"] for i in job["images"]} & {w.name for w in lost} != {w.name for w in lost}
            assert all("Ray" in (w.last_exit or "") or "Ray" in (w.error or "") for w in lost), [
                (w.last_exit, w.error) for w in lost]
            retries = (await srv.client.get("/metrics")).text
            assert "remgo_task_retries_total 2" in retries
    finally:
        if ray_test_cluster.gpu_node is None:
            ray_test_cluster.add_gpu_node()  # later tests get both nodes again
