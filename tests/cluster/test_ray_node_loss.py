"""Losing a node of the Ray cluster mid-job: its workers are gone within seconds and the job finishes.

Last of the cluster tests by name (so the node is re-added only when another test runs after it, see conftest).
"""

from __future__ import annotations

import pytest

from bench.harness.in_process import poll, running, until
from orchestrator.pool.handle import WorkerState
from tests.cluster.ray_harness import SLOW, STREAM_TIMEOUT, busy, ray_settings, started

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]


async def test_removing_a_node_mid_job(tmp_path, ray_test_cluster) -> None:
    settings = ray_settings(tmp_path, ray_test_cluster.address, gpus=True, step_delay=0.05)
    async with running(settings) as srv:
        await srv.client.post("/v1/jobs?id=node", json={**SLOW, "image_number": 3})
        await until(lambda: len(busy(srv)) == 3, 30)
        await started(srv, "node")
        lost_node = ray_test_cluster.gpu_node.node_id
        lost = [w for w in srv.services.pool.workers if w.placement.node_id == lost_node]
        [survivor] = [w for w in srv.services.pool.workers if w not in lost]
        assert len(lost) == 2
        ray_test_cluster.remove_gpu_node()
        # Both lost workers are seen gone within the stream's time limit (plus a poll), not Ray's minutes.
        await until(lambda: all(w.state is not WorkerState.busy for w in lost), STREAM_TIMEOUT * 3)
        job = await poll(srv.client, "node", "succeeded", timeout=60)
        assert len(job["images"]) == 3
        assert {i["worker"] for i in job["images"]} == {survivor.name}  # both lost images retried there
        assert all("Ray" in (w.last_exit or "") or "Ray" in (w.error or "") for w in lost), [
            (w.last_exit, w.error) for w in lost]
        retries = (await srv.client.get("/metrics")).text
        assert "remgo_task_retries_total 2" in retries
