"""The real worker (diffusers kernel, tiny random-weight SDXL) on the ray backend: one actor per node,
a two-image job split between them, each actor's node and GPU reported."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from bench.harness.in_process import running, sse_events, until
from tests.cluster.ray_harness import ray_settings

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(300)]

BODY = {"prompt": "a lighthouse at dusk", "base_model_name": "tiny-sdxl.safetensors", "image_number": 2,
        "image_seed": 42, "overwrite_width": 256, "overwrite_height": 256, "overwrite_step": 2,
        "style_selections": [], "loras": [], "sampler_name": "euler", "scheduler_name": "karras",
        "image_sharpness": 0.0}


async def test_tiny_sdxl_job_split_across_both_nodes(tmp_path, ray_test_cluster, tiny_models) -> None:
    # One `pair_slot` per node puts the two actors on different nodes. Each reserves a fake GPU, but
    # devices = cpu runs the worker on the cpu (this machine has no GPU).
    settings = ray_settings(tmp_path, ray_test_cluster.address, workers=2, worker_kernel=None,
                            ray_resources={"pair_slot": 1.0}, model_roots=[tiny_models.root],
                            worker_start_timeout=240.0)
    async with running(settings, ready=False) as srv:
        pool = srv.services.pool
        # Each worker imports diffusers and loads its kernel first: seconds on an idle machine, minutes on
        # two busy cores. The bound is the test's, not a guess at the machine's speed.
        await until(lambda: len(pool.idle_workers()) == 2 or any(w.error for w in pool.workers), 250)
        assert [w.error for w in pool.workers] == [None, None]
        workers = (await srv.client.get("/v1/workers")).json()["workers"]
        assert {w["kernel"] for w in workers} != {"color"} and {w["device"] for w in workers} == {"cpu"}
        places = {w["name"]: w["placement"] for w in workers}
        assert len({p["node_id"] for p in places.values()}) == 2
        # The head's GPU is 0; the second node's are 5 and 7 (its CUDA_VISIBLE_DEVICES), one of them here.
        gpus = sorted(p["gpu_ids"][0] for p in places.values())
        assert gpus in (["0", "5"], ["0", "7"])
        assert sorted(p["cuda_visible_devices"] for p in places.values()) == gpus

        r = await srv.client.post("/v1/jobs?id=tiny", json=BODY)
        assert r.status_code == 202, r.text
        events = await sse_events(srv.client, "/v1/jobs/tiny/events")
        assert events[-1][0] == "finished", events[-1]
        assert any(kind == "progress" for kind, _ in events)  # step notifications came through the stream
        job = (await srv.client.get("/v1/jobs/tiny")).json()
        assert [i["seed"] for i in job["images"]] == [42, 43]
        assert len({places[i["worker"]]["node_id"] for i in job["images"]}) == 2  # one image on each node
        files = [(await srv.client.get(i["url"])).content for i in job["images"]]
        assert all(Image.open(io.BytesIO(f)).size == (256, 256) for f in files) and files[0] != files[1]
