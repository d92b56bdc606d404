"""The history HTTP API on a bare Starlette app: list, page, search, get, star, delete, export, reconcile."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from orchestrator.api.routes import history as history_routes
from orchestrator.api.routes import outputs as output_routes
from orchestrator.store.history.importer import import_folder
from orchestrator.store.history.index import History
from orchestrator.store.outputs import OutputStore
from tests.orchestrator.store.history_samples import image_bytes, sample_params, write_image

T0 = datetime(2024, 3, 1, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
def api(tmp_path: Path):
    store = OutputStore(tmp_path / "outputs")
    history = History(tmp_path / "outputs" / "history.db", store)
    app = Starlette(routes=history_routes.routes() + output_routes.routes())
    app.state.services = SimpleNamespace(outputs=store, history=history)
    with TestClient(app) as client:
        yield client, history
    history.close()


def add(history: History, n: int, fmt: str = "png", **changes) -> str:
    rel = history.outputs.save(image_bytes(fmt), fmt, job_id=f"job-{n}")
    return history.add(relpath=rel, job_id=f"job-{n}", params=sample_params(**changes), width=64, height=48,
                       fmt=fmt, created=T0 + timedelta(minutes=n))


def test_list_pages_with_cursor_and_urls_that_work(api) -> None:
    client, history = api
    ids = [add(history, n, prompt=f"lantern number {n}") for n in range(5)]
    body = client.get("/v1/history", params={"limit": 2}).json()
    assert [i["id"] for i in body["items"]] == ids[:2:-1] and body["limit"] == 2
    seen = [i["id"] for i in body["items"]]
    while body["next_cursor"]:
        body = client.get("/v1/history", params={"limit": 2, "cursor": body["next_cursor"]}).json()
        seen += [i["id"] for i in body["items"]]
    assert seen == ids[::-1]
    item = client.get(f"/v1/history/{ids[0]}").json()
    assert item["prompt"] == "lantern number 0" and item["params"]["seed"] == item["seed"]
    assert client.get(item["url"]).content == (history.outputs.root / item["path"]).read_bytes()
    assert client.get(item["thumb_url"]).headers["content-type"] == "image/webp"


def test_list_filters(api) -> None:
    client, history = api
    a = add(history, 0, base_model="alpha", prompt="misty harbour")
    b = add(history, 1, base_model="beta", prompt="misty forest")
    client.patch(f"/v1/history/{a}", json={"starred": True})

    def ids(**params) -> list[str]:
        response = client.get("/v1/history", params=params)
        assert response.status_code == 200, response.text
        return [i["id"] for i in response.json()["items"]]

    assert ids(q="misty") == [b, a]
    assert ids(q="harbour") == [a]
    assert ids(model="beta") == [b]
    assert ids(starred="true") == [a]
    assert ids(since="2024-03-01T12:01:00Z") == [b]
    assert ids(until="2024-03-01T12:00:30Z") == [a]


@pytest.mark.parametrize(
    ("params", "field"),
    [({"limit": "x"}, "limit"), ({"limit": "9999"}, "limit"), ({"cursor": "zz"}, "cursor"),
     ({"since": "soon"}, "since"), ({"starred": "2"}, "starred"), ({"order": "asc"}, "order")],
)
def test_list_rejects_bad_parameters_naming_them(api, params, field) -> None:
    client, _ = api
    response = client.get("/v1/history", params=params)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["field"] == field and error["message"] and not error["message"].startswith(f"{field}:")


def test_get_and_patch(api) -> None:
    client, history = api
    image_id = add(history, 0)
    assert client.get("/v1/history/missing").status_code == 404
    response = client.patch(f"/v1/history/{image_id}", json={"starred": True})
    assert response.status_code == 200 and response.json()["starred"] is True
    assert client.get(f"/v1/history/{image_id}").json()["starred"] is True
    assert client.patch(f"/v1/history/{image_id}", json={"starred": False}).json()["starred"] is False
    assert client.patch("/v1/history/missing", json={"starred": True}).status_code == 404
    bad = client.patch(f"/v1/history/{image_id}", json={"starred": "yes"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "$.starred"
    unknown = client.patch(f"/v1/history/{image_id}", json={"starred": True, "title": "x"})
    assert unknown.status_code == 422 and unknown.json()["error"]["field"] == "$.title"
    broken = client.patch(f"/v1/history/{image_id}", content=b"{")
    assert broken.status_code == 422 and broken.json()["error"]["field"] == "$"


def test_delete_one_and_many(api) -> None:
    client, history = api
    one, two, three = (add(history, n) for n in range(3))
    path = history.outputs.root / history.row(one)["path"]
    assert client.delete(f"/v1/history/{one}").json() == {"deleted": [one]}
    assert not path.exists()
    assert client.delete(f"/v1/history/{one}").status_code == 404
    response = client.post("/v1/history/delete", json={"ids": [two, "ghost", three]})
    assert response.json() == {"deleted": [two, three], "missing": ["ghost"], "failed": []}
    assert client.get("/v1/history").json()["items"] == []
    empty = client.post("/v1/history/delete", json={"ids": []})
    assert empty.status_code == 422 and empty.json()["error"]["field"] == "$.ids"


def test_export_streams_a_zip_of_the_chosen_images(api) -> None:
    client, history = api
    ids = [add(history, n, fmt=fmt) for n, fmt in enumerate(["png", "jpeg", "webp"])]
    chosen = ids[:2]
    with client.stream("POST", "/v1/history/export", json={"ids": chosen}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/zip"
        assert "attachment" in response.headers["content-disposition"]
        data = b"".join(response.iter_bytes())
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
        names = archive.namelist()
        assert names == [history.row(i)["path"] for i in chosen]
        for name in names:
            assert archive.read(name) == (history.outputs.root / name).read_bytes()
    missing = client.post("/v1/history/export", json={"ids": [ids[0], "ghost"]})
    assert missing.status_code == 404 and "ghost" in missing.json()["error"]["message"]


def test_export_is_streamed_in_chunks(api, monkeypatch) -> None:
    from orchestrator.store.history import export as history_export

    client, history = api
    big = [add(history, n) for n in range(3)]
    chunks = list(history_export.zip_stream(history_export.export_entries(history, big)[0], chunk=256))
    assert len(chunks) > 3 and max(len(c) for c in chunks) < 4096  # never the whole archive at once
    with zipfile.ZipFile(io.BytesIO(b"".join(chunks))) as archive:
        assert archive.testzip() is None and len(archive.namelist()) == 3


def test_reconcile_endpoint_and_imported_files_by_id(api, tmp_path: Path) -> None:
    client, history = api
    history.outputs.save(image_bytes("png"), "png", job_id="crashed")  # never indexed
    assert client.post("/v1/history/reconcile").json()["added"] == 1
    old = tmp_path / "old-fooocus"
    write_image(old / "2023-01-01" / "2023-01-01_00-00-00_1.jpeg", "jpeg", sample_params(prompt="old pier"), "a1111")
    import_folder(history, old)
    [item] = client.get("/v1/history", params={"q": "pier"}).json()["items"]
    assert item["url"] == f"/v1/history/{item['id']}/file"
    assert client.get(item["url"]).content == (old / item["path"]).read_bytes()
    assert client.get(item["thumb_url"]).headers["content-type"] == "image/webp"
    assert client.get("/v1/history/ghost/file").status_code == 404
    with client.stream("POST", "/v1/history/export", json={"ids": [item["id"]]}) as response:
        data = b"".join(response.iter_bytes())
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.namelist() == [f"imported/1/{item['path']}"]


def test_a_misspelt_body_field_gets_a_suggestion(api) -> None:
    client, history = api
    image_id = add(history, 0)
    response = client.patch(f"/v1/history/{image_id}", json={"stared": True})
    assert response.status_code == 422
    assert response.json()["error"] == {"message": "unknown field `stared`",
                                        "field": "$.stared", "suggestions": ["starred"]}
