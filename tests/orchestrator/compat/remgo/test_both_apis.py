"""Jobs of either API on RemGo's socket, RemGo's global stop, and one image through both APIs."""

import asyncio

import pytest
import websockets

from bench.harness.in_process import poll, running
from bench.harness.settings import SMALL
from bench.harness.worker_kernels import HOLD
from tests.orchestrator.compat.remgo.frontend import (
    FRONTEND_ORIGIN,
    check_status,
    compat_settings,
    default_body,
    messages_until_finished,
)

pytestmark = pytest.mark.anyio


async def _ended(client, job_id: str, timeout: float = 240.0) -> dict:
    deadline = asyncio.get_running_loop().time() + timeout
    while (job := (await client.get(f"/v1/jobs/{job_id}")).json())["status"] in ("queued", "running"):
        assert asyncio.get_running_loop().time() < deadline, f"job {job_id} still {job['status']}"
        await asyncio.sleep(0.1)
    return job


async def test_v1_jobs_show_on_the_socket(tmp_path) -> None:
    async with running(compat_settings(tmp_path)) as srv, websockets.connect(f"{srv.ws_url}/ws") as ws:
        v1 = (await srv.client.post("/v1/jobs?id=from-v1", json={**SMALL, "image_number": 2})).json()["id"]
        remgo = (await srv.client.post("/generate", content=default_body(**SMALL))).json()["task_id"]
        got = await messages_until_finished(ws, {v1, remgo})
        last = got[v1][-1]
        assert last["statusText"] == "Finished (2/2 images)" and len(last["results"]) == 2
        assert any(m["statusText"] == "Image 1/2 ready" and len(m["results"]) == 1 for m in got[v1])
        assert got[v1][0]["statusText"].startswith("Waiting in queue") and got[remgo][-1]["finished"]
        job = (await srv.client.get(f"/v1/jobs/{v1}")).json()
        assert last["results"] == [img["url"].removeprefix("/outputs/") for img in job["images"]]


async def test_failed_jobs_end_on_the_socket(tmp_path) -> None:
    settings = compat_settings(tmp_path, kernel="RaisingKernel")
    async with running(settings) as srv, websockets.connect(f"{srv.ws_url}/ws") as ws:
        bad = (await srv.client.post("/generate", content=default_body(**SMALL))).json()["task_id"]
        failed = (await messages_until_finished(ws, {bad}))[bad][-1]
        assert failed["statusText"].startswith("Failed: image 0: ") and "kernel exploded" in failed["statusText"]
        assert failed["results"] == [] and failed["percentage"] == 100
        status = check_status((await srv.client.get(f"/status/{bad}")).json())
        assert status["statusText"] == failed["statusText"] and status["finished"]


async def test_socket_takes_no_commands_and_checks_the_origin(tmp_path) -> None:
    async with running(compat_settings(tmp_path), ready=False) as srv:
        async with websockets.connect(f"{srv.ws_url}/ws", origin=FRONTEND_ORIGIN) as ws:
            await ws.send('{"op": "subscribe", "job_id": "*"}')
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 5)
            assert closed.value.rcvd.code == 1003 and "/v1/ws" in closed.value.rcvd.reason
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(f"{srv.ws_url}/ws", origin="http://evil.example"):
                pass
        assert refused.value.response.status_code == 403


async def test_stop_ends_remgo_jobs_and_leaves_v1_jobs_and_the_queue(tmp_path) -> None:
    """RemGo's Stop button ends the generation RemGo's routes started; a /v1 client's job is not its to
    stop, and queued jobs keep their place."""
    async with running(compat_settings(tmp_path, devices=2, step_delay=0.05)) as srv:
        hold = {"overwrite_width": 256, "overwrite_height": 256, "overwrite_step": 20}
        v1 = (await srv.client.post("/v1/jobs?id=api-job", json={**SMALL, **hold,
                                                                  "prompt": f"another client {HOLD}"})).json()["id"]
        mine = (await srv.client.post("/generate", content=default_body(f"mine {HOLD}", **hold))).json()["task_id"]
        r = await srv.client.post("/generate", content=default_body(overwrite_width=256, overwrite_height=256,
                                                                      overwrite_step=2))
        queued = r.json()["task_id"]
        for job_id in (v1, mine):
            await poll(srv.client, job_id, "running")
        assert check_status((await srv.client.get(f"/status/{queued}")).json())["statusText"].startswith(
            "Waiting in queue")
        r = await srv.client.post("/stop", headers={"Origin": FRONTEND_ORIGIN})
        assert r.status_code == 200 and r.json()["status"] == "Stop requested"
        assert r.json()["stopped"] == [mine]
        job = await poll(srv.client, mine, "cancelled")
        status = check_status((await srv.client.get(f"/status/{mine}")).json())
        assert status["finished"] and status["statusText"] == "Stopped (0/1 images)" and job["images"] == []
        await poll(srv.client, queued, "succeeded")
        assert (await srv.client.get(f"/v1/jobs/{v1}")).json()["status"] == "running"  # still its own
        assert (await srv.client.post(f"/v1/jobs/{v1}/cancel")).json()["status"] == "cancelled"  # by its id


async def test_same_request_same_bytes_through_both_apis(tmp_path, tiny_models) -> None:
    """The real diffusers kernel on the tiny SDXL model. Sharpness is 0: that kernel refuses other values
    until its sharpness guidance lands, and the frontend's default (2) would be refused on both paths."""
    settings = compat_settings(tmp_path, worker_kernel=None, model_roots=[tiny_models.root])
    request = {"prompt": "a lighthouse", "base_model_name": "tiny-sdxl.safetensors", "image_seed": 1234,
               "seed_random": False, "image_number": 1, "overwrite_width": 256, "overwrite_height": 256,
               "overwrite_step": 2, "style_selections": [], "loras": [], "sampler_name": "euler",
               "scheduler_name": "karras", "image_sharpness": 0, "save_metadata_to_images": True}
    async with running(settings, ready=False) as srv:
        r = await srv.client.post("/generate", content=default_body(**request))
        assert r.status_code == 200, r.text
        remgo_id = r.json()["task_id"]
        v1_id = (await srv.client.post("/v1/jobs", json=request)).json()["id"]
        files = []
        for job_id in (remgo_id, v1_id):
            job = await _ended(srv.client, job_id)
            assert job["status"] == "succeeded", job["error"]
            assert job["images"][0]["seed"] == 1234
            files.append((await srv.client.get(job["images"][0]["url"])).content)
        remgo_result = (await srv.client.get(f"/status/{remgo_id}")).json()["results"][0]
        assert (await srv.client.get(f"/images/{remgo_result}")).content == files[0]
        assert files[0][:8] == b"\x89PNG\r\n\x1a\n" and files[0] == files[1]
