"""Jobs on the ray backend: placement reported per worker, images split across nodes, progress, stop."""

from __future__ import annotations

import pytest

from tests.cluster.ray_settings import ray_settings
from tests.integration.server_harness import SMALL, poll, running, sse_events, until

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]


async def test_a_job_splits_across_actors_on_both_nodes(tmp_path, ray_test_cluster) -> None:
    settings = ray_settings(tmp_path, ray_test_cluster.address, gpus=True, step_delay=0.05)
    async with running(settings) as srv:
        workers = (await srv.client.get("/v1/workers")).json()["workers"]
        assert [w["state"] for w in workers] == ["idle"] * 3
        places = {w["name"]: w["placement"] for w in workers}
        assert all(p["backend"] == "ray" and p["node_ip"] == "127.0.0.1" for p in places.values())
        assert len({p["node_id"] for p in places.values()}) == 2
        # Ray hands out the fake GPUs: the head's 0, the second node's 5 and 7 (from CUDA_VISIBLE_DEVICES).
        assert sorted(p["gpu_ids"][0] for p in places.values()) == ["0", "5", "7"]
        assert sorted(p["cuda_visible_devices"] for p in places.values()) == ["0", "5", "7"]
        assert {w["device"] for w in workers} == {"cuda:0"}  # each actor's one visible GPU

        r = await srv.client.post("/v1/jobs?id=split", json={**SMALL, "image_number": 3, "overwrite_step": 8})
        assert r.status_code == 202, r.text
        events = await sse_events(srv.client, "/v1/jobs/split/events")
        assert events[-1][0] == "finished", events[-1]
        assert sum(1 for kind, _ in events if kind == "progress") >= 3  # notifications came through the stream
        job = await poll(srv.client, "split", "succeeded")
        assert [i["seed"] for i in job["images"]] == [1000, 1001, 1002]
        used = {i["worker"] for i in job["images"]}
        assert len(used) >= 2
        assert len({places[name]["node_id"] for name in used}) == 2
        files = [(await srv.client.get(i["url"])).content for i in job["images"]]
        assert len(set(files)) == 3 and all(f[:4] == b"\x89PNG" for f in files)


async def test_stop_during_a_stream(tmp_path, ray_test_cluster) -> None:
    settings = ray_settings(tmp_path, ray_test_cluster.address, workers=1, step_delay=0.05)
    async with running(settings) as srv:
        worker = srv.services.pool.workers[0]
        pid, actor_pid = worker.pid, worker.placement.actor_pid
        await srv.client.post("/v1/jobs?id=long", json={**SMALL, "overwrite_step": 200})
        runs = srv.services.dispatcher.runs
        await until(lambda: "long" in runs and (runs["long"].latest or runs["long"].progress()).step >= 3)
        r = (await srv.client.post("/v1/jobs/long/cancel")).json()
        assert r["status"] == "cancelled" and r["changed"], r
        await until(lambda: worker.state.value == "idle", 10)
        assert (worker.pid, worker.placement.actor_pid) == (pid, actor_pid)  # stopped, not killed
        r = await srv.client.post("/v1/jobs?wait=true", json=SMALL)
        assert r.json()["status"] == "succeeded"
