"""POST /v1/jobs with input images: inline, by upload id, by history row, or as multipart file parts. Each
way names the same stored file; every refusal is a 400 naming the field; the kept body holds no image."""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from bench.harness.settings import SMALL, server_settings
from orchestrator.app import create_app
from tests.orchestrator.store.history_samples import sample_params
from tests.orchestrator.store.input_samples import image_file, noise_file, png_claiming, truncated

VARY = {**SMALL, "uov_method": "Vary (Subtle)"}


@pytest.fixture
def client(tmp_path) -> TestClient:
    # no lifespan: no workers are spawned, jobs stay queued; a Host the server answers to
    return TestClient(create_app(server_settings(tmp_path)), base_url="http://127.0.0.1:8888")


def _kept(client: TestClient, job_id: str) -> dict:
    """The body the job keeps, as its record in the job database holds it."""
    db = Path(client.app.state.services.settings.state_dir) / "jobs.db"
    with sqlite3.connect(db) as conn:
        (text,) = conn.execute("SELECT request FROM jobs WHERE id = ?", [job_id]).fetchone()
    return json.loads(text)


def test_every_way_of_giving_the_file_names_the_same_upload(client) -> None:
    data = noise_file("PNG", size=(64, 64))
    sha = hashlib.sha256(data).hexdigest()
    plain = base64.b64encode(data).decode()
    svc = client.app.state.services
    relpath = svc.outputs.save(data, "png", job_id="earlier")
    image_id = svc.history.add(relpath=relpath, job_id="earlier", params=sample_params(), width=64, height=64,
                               fmt="png")
    for given in (f"data:image/png;base64,{plain}", plain, {"history_id": image_id}, {"upload_id": sha}):
        r = client.post("/v1/jobs", json={**VARY, "uov_input_image": given})
        assert r.status_code == 202, r.text
        job = client.get(f"/v1/jobs/{r.json()['id']}").json()
        # The job keeps a reference as sent, an inline file as its upload; the request it ran names the upload.
        assert job["request"]["uov_input_image"] == (given if isinstance(given, dict) else {"upload_id": sha})
        assert job["normalized"]["request"]["uov_input_image"]["upload_id"] == sha
    assert client.get(f"/v1/uploads/{sha}").content == data


def test_the_kept_body_holds_no_inline_image(client) -> None:
    data = noise_file("JPEG", size=(96, 64))
    inline = "data:image/jpeg;base64," + base64.b64encode(data).decode()
    sent = {**VARY, "uov_input_image": inline}
    r = client.post("/v1/jobs", json=sent)
    assert r.status_code == 202, r.text
    kept = _kept(client, r.json()["id"])
    assert kept == {**sent, "uov_input_image": {"upload_id": hashlib.sha256(data).hexdigest()}}
    db = Path(client.app.state.services.settings.state_dir) / "jobs.db"
    with sqlite3.connect(db) as conn:
        everything = "".join(str(row) for row in conn.execute("SELECT * FROM jobs"))
    assert inline[40:200] not in everything  # not in the task or the normalized request either


def test_a_multipart_submit(client) -> None:
    image, mask = image_file("PNG", (96, 64)), image_file("PNG", (96, 64), color=(255, 255, 255))
    request = {**SMALL, "inpaint_additional_prompt": "a hat"}
    r = client.post("/v1/jobs", data={"request": json.dumps(request)},
                    files={"inpaint_input_image": ("photo.png", image, "image/png"),
                           "inpaint_mask_image": ("mask.png", mask, "image/png")})
    assert r.status_code == 202, r.text
    kept = _kept(client, r.json()["id"])
    assert kept == {**request, "inpaint_input_image": {"upload_id": hashlib.sha256(image).hexdigest()},
                    "inpaint_mask_image": {"upload_id": hashlib.sha256(mask).hexdigest()}}
    assert client.get(f"/v1/uploads/{hashlib.sha256(mask).hexdigest()}").content == mask
    # The JSON part alone is an ordinary submission.
    r = client.post("/v1/jobs", files={"request": (None, json.dumps(SMALL))})
    assert r.status_code == 202 and _kept(client, r.json()["id"]) == SMALL


def _error(r) -> tuple[int, str, str]:
    body = r.json()
    assert "error" in body, body
    return r.status_code, body["error"]["field"], body["error"]["message"]


def test_every_check_is_a_400_naming_the_field(client) -> None:
    def inline(data: bytes) -> str:
        return base64.b64encode(data).decode()

    cases = [
        ("uov_input_image", inline(png_claiming(50000, 50000)), "too large"),
        ("inpaint_input_image", inline(truncated(noise_file("PNG"))), "does not decode"),
        ("inpaint_mask_image", inline(image_file("GIF")), "GIF"),
        ("uov_input_image", "garbage, not base64 at all!", "not base64"),
        ("uov_input_image", inline(b"just some bytes"), "not an image"),
        ("inpaint_mask_image", {"upload_id": "0" * 64}, "no upload"),
        ("inpaint_input_image", {"history_id": "0123456789abcdef"}, "no history image"),
    ]
    for name, given, words in cases:
        status, field, message = _error(client.post("/v1/jobs", json={**SMALL, name: given}))
        assert (status, field) == (400, f"$.{name}") and words in message, (name, message)
    # A reference that is not one of the two shapes is the contract's own 422, as for any bad field.
    status, field, _ = _error(client.post("/v1/jobs", json={**SMALL, "uov_input_image": {"path": "/etc/passwd"}}))
    assert (status, field) == (422, "$.uov_input_image.path")


def test_multipart_refusals_name_the_part(client) -> None:
    png = ("a.png", image_file("PNG"), "image/png")
    cases = [
        (dict(data={"request": json.dumps({**SMALL, "uov_input_image": {"upload_id": "1" * 64}})},
              files={"uov_input_image": png}), "uov_input_image", "given twice"),
        (dict(files={"uov_input_image": png}), "request", "needs a part 'request'"),
        (dict(data={"request": json.dumps(SMALL)}, files={"input_image": png}), "input_image", "unknown part"),
        (dict(data={"request": json.dumps(SMALL)}, files={"uov_input_image": ("a.gif", image_file("GIF"), "image/gif")}),
         "uov_input_image", "GIF"),
        (dict(data={"request": json.dumps({"fooocus_args_contract_version": 1, "fooocus_args": []})},
              files={"uov_input_image": png}), "request", "v2 request"),
    ]
    for kwargs, field, words in cases:
        status, named, message = _error(client.post("/v1/jobs", **kwargs))
        assert (status, named) == (400, field) and words in message, (field, message)
    # A request part that is not JSON is refused as the same JSON body alone would be.
    status, field, message = _error(client.post("/v1/jobs", data={"request": "{nope"}, files={"uov_input_image": png}))
    assert (status, field) == (422, "$") and "not valid JSON" in message
    # A body that says multipart but is not.
    r = client.post("/v1/jobs", content=b'{"prompt": "x"}', headers={"Content-Type": "multipart/form-data; boundary=x"})
    status, field, message = _error(r)
    assert (status, field) == (400, "$") and "not a multipart/form-data body" in message
