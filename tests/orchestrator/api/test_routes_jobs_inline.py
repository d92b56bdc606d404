"""`?inline=true`: the job's image files base64 in the answer, refused (400, naming `inline`) over the limit."""

from __future__ import annotations

import base64
import io
from types import SimpleNamespace

import msgspec
import pytest
from PIL import Image
from starlette.applications import Starlette
from starlette.testclient import TestClient

from orchestrator.api.routes import jobs as jobs_routes
from orchestrator.jobs.model import JobProgress, job_view
from orchestrator.jobs.store import ImageRecord, JobStatus
from orchestrator.store.outputs import OutputStore
from tests.orchestrator.jobs.job_samples import make_job


def png(seed: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (seed, 80, 160)).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def setup(tmp_path):
    outputs = OutputStore(tmp_path / "outputs")
    files = [png(1), png(2)]
    records = [ImageRecord(index=i, seed=i, status="done", relpath=outputs.save(data, "png", job_id="j"))
               for i, data in enumerate(files)]
    job = msgspec.structs.replace(make_job("j", 2), status=JobStatus.succeeded, images=records)
    dispatcher = SimpleNamespace(
        view=lambda job, read=None: job_view(job, position=None, progress=JobProgress(), read_image=read))
    app = Starlette(routes=jobs_routes.routes())
    app.state.services = SimpleNamespace(jobs={"j": job}, dispatcher=dispatcher, outputs=outputs)
    with TestClient(app) as client:
        yield client, files


def test_inline_carries_the_files(setup):
    client, files = setup
    body = client.get("/v1/jobs/j?inline=true").json()
    assert [base64.b64decode(i["data"]) for i in body["images"]] == files
    assert all("data" not in i for i in client.get("/v1/jobs/j").json()["images"])


def test_inline_over_the_limit_is_refused_naming_inline(setup, monkeypatch):
    client, files = setup
    monkeypatch.setattr(jobs_routes, "INLINE_LIMIT", sum(len(f) for f in files) - 1)
    r = client.get("/v1/jobs/j?inline=true")
    assert r.status_code == 400 and r.json()["error"]["field"] == "inline"
    assert "images[].url" in r.json()["error"]["message"]
    assert client.get("/v1/jobs/j").status_code == 200  # without inline the job is served as ever
    monkeypatch.setattr(jobs_routes, "INLINE_LIMIT", sum(len(f) for f in files))
    assert client.get("/v1/jobs/j?inline=true").status_code == 200  # the limit itself is allowed
