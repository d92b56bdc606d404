"""Searching the history as a Fooocus user does: `fox OR lighthouse`, a style, the model by the name the
image's own metadata shows, over HTTP and with `remgo history search`; a malformed search is a 422 naming `q`."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from bench.harness.settings import SMALL, server_settings
from tests.orchestrator.cli.cli_run import remgo
from tests.orchestrator.server_thread import ServerThread


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A server with three images: a fox (with a style, A1111 metadata), a lighthouse, an owl."""
    with ServerThread(server_settings(tmp_path_factory.mktemp("search"))) as srv, srv.client() as client:
        style = next(s["name"] for s in client.get("/v1/styles").json()
                     if s.get("available", True) and s["name"] not in ("Fooocus V2", "Random Style"))
        images = {}
        for name, changes in (("fox", {"prompt": "a red fox in snow", "style_selections": [style],
                                       "metadata_scheme": "a1111"}),
                              ("lighthouse", {"prompt": "a lighthouse at dusk", "negative_prompt": "fog",
                                              "style_selections": []}),
                              ("owl", {"prompt": "an owl at night", "style_selections": []})):
            job = client.post("/v1/jobs?wait=true", json={**SMALL, **changes}).json()
            assert job["status"] == "succeeded", job
            images[name] = job["images"][0]
        yield srv, images, style


def _ids(client, **params) -> list[str]:
    r = client.get("/v1/history", params=params)
    assert r.status_code == 200, r.text
    return [item["id"] for item in r.json()["items"]]


def test_search_takes_fts5_syntax_styles_and_model_names(made) -> None:
    srv, images, style = made
    fox, house, owl = (images[n]["history_id"] for n in ("fox", "lighthouse", "owl"))
    with srv.client() as client:
        assert _ids(client, q="fox OR lighthouse") == [house, fox]
        assert _ids(client, q="fox lighthouse") == []  # every word must occur
        assert _ids(client, q="fog") == [house]  # negative prompts
        assert _ids(client, q=f'styles:"{style}"') == [fox]
        assert _ids(client, q="(owl OR fox) NOT snow") == [owl]
        assert _ids(client, q="tiny") == [owl, house, fox]  # the model's name
        for bad, words in (("fox OR", "syntax error at the end"), ('"fox', "not closed"), ("NOT fox", '"NOT"')):
            r = client.get("/v1/history", params={"q": bad})
            assert r.status_code == 422, (bad, r.text)
            assert r.json()["error"]["field"] == "q" and words in r.json()["error"]["message"], r.json()


def test_the_model_filter_takes_the_name_the_metadata_shows(made) -> None:
    srv, images, _ = made
    with srv.client() as client:
        png = client.get(images["fox"]["url"]).content
        text = Image.open(io.BytesIO(png)).text["parameters"]  # A1111's layout, as A1111 and Civitai read it
        shown = next(part.split(": ", 1)[1] for part in text.splitlines()[-1].split(", ")
                     if part.startswith("Model: "))
        assert shown == "tiny"
        everything = _ids(client)
        assert len(everything) == 3
        for name in (shown, "tiny.safetensors", "TINY"):
            assert _ids(client, model=name) == everything, name
        assert _ids(client, model="tin") == []


def test_remgo_history_search_speaks_the_same_syntax(made) -> None:
    srv, images, _ = made
    found = remgo("history", "search", "fox OR lighthouse", "--model", "tiny", "--json", "--server", srv.url)
    assert found.returncode == 0, found.stderr
    assert [i["id"] for i in json.loads(found.stdout)["items"]] == [
        images["lighthouse"]["history_id"], images["fox"]["history_id"]]
    bad = remgo("history", "search", "fox OR", "--server", srv.url)
    assert bad.returncode == 2 and "q: cannot be searched (syntax error at the end)" in bad.stderr
