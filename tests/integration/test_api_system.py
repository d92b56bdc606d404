"""Health, workers, metrics, the OpenAPI document and the docs page."""

import pytest

from bench.harness.in_process import running
from bench.harness.settings import SMALL, server_settings

pytestmark = pytest.mark.anyio


async def test_health_workers_metrics(tmp_path) -> None:
    async with running(server_settings(tmp_path, devices=2)) as srv:
        await srv.client.post("/v1/jobs?wait=true", json=SMALL)
        health = (await srv.client.get("/health")).json()
        assert health == {"status": "ok", "ready": True, "workers_ready": 2, "workers_total": 2, "queue_depth": 0}
        workers = (await srv.client.get("/v1/workers")).json()["workers"]
        assert [w["name"] for w in workers] == ["w0", "w1"] and {w["device"] for w in workers} == {"cpu"}
        assert all(w["state"] == "idle" and w["pid"] and w["restarts"] == 0 for w in workers)
        worked = [w for w in workers if w["tasks_done"] == 1]
        assert len(worked) == 1 and worked[0]["loaded_models"] == ["tiny.safetensors"]
        assert worked[0]["kernel"] == "color"
        text = (await srv.client.get("/metrics")).text
        for line in ("remgo_queue_depth 0", 'remgo_jobs{status="succeeded"} 1', "remgo_images_total 1",
                     "remgo_steps_total 3", 'remgo_workers{state="idle"} 2', "remgo_jobs_submitted_total 1"):
            assert line in text, line
        assert "# TYPE remgo_step_rate gauge" in text


async def test_openapi_and_docs(tmp_path) -> None:
    async with running(server_settings(tmp_path), ready=False) as srv:
        spec = (await srv.client.get("/openapi.json")).json()
        assert spec["openapi"].startswith("3.1")
        schemas = spec["components"]["schemas"]
        assert {"GenerateRequest", "JobView", "JobEvent", "ErrorBody", "JobAccepted"} <= set(schemas)
        assert "image_number" in schemas["GenerateRequest"]["properties"]
        post = spec["paths"]["/v1/jobs"]["post"]
        assert {p["name"] for p in post["parameters"]} == {"id", "priority", "webhook_url", "wait", "inline"}
        assert "429" in post["responses"]
        for path in ("/v1/jobs/{id}", "/v1/jobs/{id}/cancel", "/v1/ws", "/metrics", "/outputs/{path}",
                     "/v1/catalog"):
            assert path in spec["paths"], path
        docs = await srv.client.get("/docs")
        assert docs.status_code == 200 and docs.headers["content-type"].startswith("text/html")
        assert "/v1/jobs/{id}/skip" in docs.text and "GenerateRequest" in docs.text and "<script" not in docs.text
