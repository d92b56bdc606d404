"""Clients of the three faces at once — AUTOMATIC1111's (which holds its request open until its images are
made), Fooocus-API's (async) and remgo's own — share one queue first come, first served: each job starts in the
order it was submitted, whichever face it came through, and every one of them finishes."""

from __future__ import annotations

import asyncio

import pytest

from bench.harness.in_process import poll, running
from bench.harness.settings import CHECKPOINT, server_settings

pytestmark = pytest.mark.anyio
SIZE = {"overwrite_width": 256, "overwrite_height": 256, "overwrite_step": 3}


async def _newest_job(srv, known: set[str]) -> str:
    for _ in range(200):
        jobs = (await srv.client.get("/v1/jobs")).json()["jobs"]
        fresh = [j["id"] for j in jobs if j["id"] not in known]
        if fresh:
            return fresh[0]
        await asyncio.sleep(0.02)
    raise AssertionError("the A1111 request made no job")


async def test_three_faces_are_served_in_the_order_they_came(tmp_path) -> None:
    async with running(server_settings(tmp_path, step_delay=0.02)) as srv:
        order: list[str] = []
        a1111_calls = []
        for n in range(2):
            # A1111's call blocks until its job is done: it runs beside the others, its job queued when it arrives.
            known = {j["id"] for j in (await srv.client.get("/v1/jobs")).json()["jobs"]}
            a1111_calls.append(asyncio.create_task(srv.client.post("/sdapi/v1/txt2img", json={
                "prompt": f"a lighthouse {n}", "width": 256, "height": 256, "steps": 3,
                "override_settings": {"sd_model_checkpoint": CHECKPOINT}}, timeout=120)))
            order.append(await _newest_job(srv, known))
            fooocus = await srv.client.post("/v1/generation/text-to-image", json={
                "prompt": f"a fox {n}", "base_model_name": CHECKPOINT, "async_process": True, "advanced_params": SIZE})
            order.append(fooocus.json()["job_id"])
            ours = await srv.client.post("/v1/jobs", json={"prompt": f"a cat {n}", "base_model_name": CHECKPOINT,
                                                           "image_number": 1, **SIZE})
            order.append(ours.json()["id"])
        for call in a1111_calls:
            assert (await call).status_code == 200
        for job_id in order:
            await poll(srv.client, job_id, "succeeded", timeout=60)
        jobs = [(await srv.client.get(f"/v1/jobs/{i}")).json() for i in order]
        assert [j["request_format"] for j in jobs] == ["a1111", "fooocus-api", "v2"] * 2
        started = [j["started_at"] for j in jobs]
        assert started == sorted(started)  # first come, first served, whichever face
