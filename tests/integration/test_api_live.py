"""Live channels: SSE of every job, the WebSocket with subscribe/unsubscribe, signed webhooks."""

import asyncio
import json
import time

import msgspec
import pytest
import websockets
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bench.harness.in_process import poll, running, serve_app
from bench.harness.settings import SMALL, server_settings
from orchestrator.jobs.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify

pytestmark = pytest.mark.anyio


async def test_all_jobs_stream_carries_every_job(tmp_path) -> None:
    async with running(server_settings(tmp_path)) as srv:
        seen: list[tuple[str, str]] = []

        async def listen() -> None:
            async with srv.client.stream("GET", "/v1/events") as response:
                kind = None
                async for line in response.aiter_lines():
                    if line.startswith("event: "):
                        kind = line[7:]
                    elif line.startswith("data: "):
                        seen.append((kind, json.loads(line[6:])["job_id"]))
                        if sum(1 for k, _ in seen if k == "finished") == 2:
                            return

        task = asyncio.create_task(listen())
        while srv.services.events.subscriber_count == 0:
            await asyncio.sleep(0.01)
        await srv.client.post("/v1/jobs?id=a", json=SMALL)
        await srv.client.post("/v1/jobs?id=b", json=SMALL)
        await asyncio.wait_for(task, 30)
        assert {j for _, j in seen} == {"a", "b"}
        assert ("queued", "a") in seen and ("finished", "b") in seen


async def _sse_frames(client, path: str) -> list[dict]:
    """Every frame of an SSE stream up to its end: the `id:` and `event:` lines and the decoded data."""
    frames, frame = [], {}
    async with client.stream("GET", path) as response:
        async for line in response.aiter_lines():
            if not line:
                if "data" in frame:
                    frames.append(frame)
                frame = {}
            elif not line.startswith(":"):
                name, _, value = line.partition(": ")
                frame[name] = json.loads(value) if name == "data" else value
    return frames


async def test_every_event_of_a_job_stream_has_an_id_and_a_time(tmp_path) -> None:
    """The `state` a stream opens with is numbered and timed like the events that follow it."""
    async with running(server_settings(tmp_path, step_delay=0.02)) as srv:
        await srv.client.post("/v1/jobs?id=slow", json={**SMALL, "overwrite_step": 10})
        await srv.client.post("/v1/jobs?id=next", json=SMALL)
        frames = await _sse_frames(srv.client, "/v1/jobs/next/events")
        assert frames[0]["event"] == "state" and frames[0]["data"]["status"] in ("queued", "running")
        assert frames[-1]["event"] == "finished" and len(frames) > 2
        ids = [f["data"]["id"] for f in frames]
        assert [int(f["id"]) for f in frames] == ids and ids == sorted(set(ids)) and ids[0] > 0
        times = [f["data"]["time"] for f in frames]
        assert times == sorted(times) and abs(times[0] - time.time()) < 60
        # A job that is over: its terminal event, numbered and timed as well.
        again = await _sse_frames(srv.client, "/v1/jobs/next/events")
        assert [f["event"] for f in again] == ["finished"]
        assert again[0]["data"]["id"] > ids[-1] and again[0]["data"]["time"] >= times[-1]


async def test_websocket_subscribe_and_unsubscribe(tmp_path) -> None:
    async with running(server_settings(tmp_path, step_delay=0.02)) as srv:
        await srv.client.post("/v1/jobs?id=mine", json={**SMALL, "overwrite_step": 6})
        await srv.client.post("/v1/jobs?id=other", json=SMALL)
        async with websockets.connect(f"{srv.ws_url}/v1/ws") as ws:
            await ws.send(json.dumps({"op": "subscribe", "job_id": "mine"}))
            got = []
            while True:
                msg = json.loads(await asyncio.wait_for(ws.recv(), 20))
                got.append(msg)
                if msg["type"] in ("finished", "failed", "cancelled") or (
                        msg["type"] == "subscribed" and msg["status"] == "succeeded"):
                    break
            assert got[0]["type"] == "subscribed" and got[0]["job_id"] == "mine"
            assert got[0]["id"] > 0 and got[0]["time"] > 0
            assert {m["job_id"] for m in got} == {"mine"}
            await ws.send(json.dumps({"op": "subscribe", "job_id": "ghost"}))
            err = json.loads(await ws.recv())
            assert err["type"] == "error" and err["error"]["field"] == "$.job_id"
            await ws.send(json.dumps({"op": "watch", "job_id": "x"}))
            err = json.loads(await ws.recv())
            assert err["type"] == "error" and err["error"]["field"] == "$.op"
            await ws.send("not json")
            assert json.loads(await ws.recv())["error"]["field"] == "$"
            await poll(srv.client, "other", "succeeded")
            await ws.send(json.dumps({"op": "subscribe", "job_id": "*"}))
            assert json.loads(await ws.recv())["type"] == "subscribed"
            await srv.client.post("/v1/jobs?id=third", json=SMALL)
            kinds = []
            while "finished" not in kinds:
                msg = json.loads(await asyncio.wait_for(ws.recv(), 20))
                assert msg["job_id"] == "third"
                kinds.append(msg["type"])
            await ws.send(json.dumps({"op": "unsubscribe", "job_id": "*"}))
            assert json.loads(await ws.recv())["type"] == "unsubscribed"
            await srv.client.post("/v1/jobs?id=fourth&wait=true", json=SMALL)
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(ws.recv(), 0.3)


async def test_webhook_is_signed_and_received(tmp_path) -> None:
    received: list[tuple[dict, bytes]] = []
    attempts = []

    async def hook(request: Request) -> Response:
        attempts.append(1)
        if len(attempts) == 1:
            return Response(status_code=503)  # the first delivery fails: it is retried
        received.append((dict(request.headers), await request.body()))
        return Response(status_code=204)

    receiver = Starlette(routes=[Route("/hook", hook, methods=["POST"])])
    async with serve_app(receiver) as hook_url:
        settings = server_settings(tmp_path, webhook_secret="topsecret", webhook_allow_private=True)
        async with running(settings) as srv:
            r = await srv.client.post(f"/v1/jobs?id=hooked&webhook_url={hook_url}/hook", json=SMALL)
            assert r.status_code == 202, r.text
            await poll(srv.client, "hooked", "succeeded")
            for _ in range(200):
                if received:
                    break
                await asyncio.sleep(0.05)
    headers, body = received[0]
    assert verify("topsecret", headers[TIMESTAMP_HEADER.lower()], body, headers[SIGNATURE_HEADER.lower()])
    assert not verify("wrong", headers[TIMESTAMP_HEADER.lower()], body, headers[SIGNATURE_HEADER.lower()])
    job = msgspec.json.decode(body)
    assert job["id"] == "hooked" and job["status"] == "succeeded" and headers["x-remgo-event"] == "job.succeeded"
    assert len(attempts) == 2
