"""A job on the ray backend with the fast test kernel: placement reported, stop during a stream."""

from __future__ import annotations

import pytest

from bench.harness.in_process import running, until
from bench.harness.settings import SMALL
from bench.harness.worker_kernels import HOLD
from tests.cluster.ray_harness import ray_settings

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]


async def test_stop_during_a_stream(tmp_path, ray_test_cluster) -> None:
    settings = ray_settings(tmp_path, ray_test_cluster.address, workers=1, gpus=True, step_delay=0.05)
    async with running(settings) as srv:
        [w] = (await srv.client.get("/v1/workers")).json()["workers"]
        place = w["placement"]
        assert place["backend"] == "ray" and place["node_ip"] == "127.0.0.1"
        assert place["gpu_ids"] in (["0"], ["5"], ["7"]) and place["cuda_visible_devices"] == place["gpu_ids"][0]
        assert w["device"] == "cuda:0"  # devices = auto: the one GPU Ray left visible to the actor

        worker = srv.services.pool.workers[0]
        pid, actor_pid = worker.pid, worker.placement.actor_pid
        await srv.client.post("/v1/jobs?id=long", json={**SMALL, "prompt": f"until cancelled {HOLD}",
                                                          "overwrite_step": 20})
        runs = srv.services.dispatcher.runs
        await until(lambda: "long" in runs and (runs["long"].latest or runs["long"].progress()).step >= 3)
        r = (await srv.client.post("/v1/jobs/long/cancel")).json()
        assert r["status"] == "cancelled" and r["changed"], r
        await until(lambda: worker.state.value == "idle", 10)
        assert (worker.pid, worker.placement.actor_pid) == (pid, actor_pid)  # stopped, not killed
        r = await srv.client.post("/v1/jobs?wait=true", json=SMALL)
        assert r.json()["status"] == "succeeded"
