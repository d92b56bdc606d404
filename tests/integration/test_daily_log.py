"""The daily log page (outputs/YYYY-MM-DD/log.html), as a user meets it: made by jobs through the real
server, every image with its parameters and relative links to the real files, newest first, prompts shown
as text, and kept right when images are deleted or their files vanish."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.harness.in_process import running, until
from bench.harness.settings import SMALL, make_catalog, server_settings
from tests.integration.daily_log_page import LogPage, read_page, target_file
from tests.orchestrator.cli.cli_run import remgo
from tests.orchestrator.store.history_samples import sample_params, write_image

PROMPT = 'a fox <script>document.title="pwned"</script> & "quoted" <img src=x onerror=alert(1)>\nsecond line'
NEGATIVE = "</td></table><b>not bold</b>"
BIG_SEED = 4944788763838947921  # above 2**53: shown exactly, as text
STYLE = {"name": "Log Test Film", "prompt": "film still of {prompt}, grain", "negative_prompt": "<i>digital</i>"}


def _page_path(outputs: Path, job: dict) -> Path:
    day = job["images"][0]["url"].split("/")[2]  # /outputs/<day>/<file>
    return outputs / day / "log.html"


async def _until_page(path: Path, predicate, timeout: float = 15.0) -> LogPage | None:
    found: list[LogPage | None] = [None]

    def check() -> bool:
        found[0] = read_page(path)
        return predicate(found[0])

    await until(check, timeout)
    return found[0]


def _files(path: Path, page: LogPage) -> list[str]:
    """Per entry, the file its picture shows; the picture and its link open the same real file."""
    names = []
    for entry in page.entries:
        (src,) = entry.images
        link = next(h for h in entry.links if not h.startswith("#"))
        shown, opened = target_file(path, src), target_file(path, link)
        assert shown == opened and shown.is_file(), (src, link)
        names.append(shown.name)
    return names


def _names(job: dict) -> list[str]:
    return [image["url"].rsplit("/", 1)[1] for image in job["images"]]


@pytest.mark.anyio
async def test_daily_log_follows_jobs_and_deletions(tmp_path) -> None:
    (make_catalog(tmp_path) / "styles" / "log_test.json").write_text(json.dumps([STYLE]))
    settings = server_settings(tmp_path)
    outputs = Path(settings.outputs_dir)
    async with running(settings) as srv:
        body = {**SMALL, "prompt": PROMPT, "negative_prompt": NEGATIVE, "image_number": 2, "image_seed": BIG_SEED,
                "style_selections": [STYLE["name"]], "sampler_name": "euler", "guidance_scale": 5.5}
        first = (await srv.client.post("/v1/jobs?wait=true", json=body)).json()
        assert first.get("status") == "succeeded", first
        path = _page_path(outputs, first)
        page = await _until_page(path, lambda p: p is not None and len(p.entries) == 2)

        assert page.meta(name="generator") is not None
        assert "script-src 'none'" in (page.meta(http_equiv="Content-Security-Policy") or {}).get("content", "")
        # user text is text: no element came out of the prompts
        assert [t for t, _ in page.tags if t in ("script", "b")] == []
        assert all(t != "img" or set(a) == {"src", "alt", "loading", "width", "height"} for t, a in page.tags)
        assert sorted(_files(path, page)) == sorted(_names(first))
        by_file = dict(zip(_files(path, page), page.entries, strict=True))
        for image in first["images"]:
            fields = by_file[image["url"].rsplit("/", 1)[1]].fields
            assert fields["Prompt"] == PROMPT and fields["Negative Prompt"] == NEGATIVE
            assert fields["Seed"] == str(image["seed"]) and int(fields["Seed"]) in (BIG_SEED, BIG_SEED + 1)
            assert fields["Sampler"] == "euler" and fields["Guidance Scale"] == "5.5"
            assert fields["Steps"] == "3" and fields["Resolution"] == "(256, 256)"
            assert fields["Base Model"] == "tiny.safetensors" and fields["Styles"] == STYLE["name"]
        entry = by_file[_names(first)[0]]
        assert json.loads(entry.pre[0])["prompt"] == PROMPT  # Fooocus's JSON, as text
        # the full prompt after the style, also as text
        assert [t for t, _ in page.tags if t == "i"] == [] and "&lt;i&gt;digital&lt;/i&gt;" in path.read_text()

        # a second job: its image comes first
        second = (await srv.client.post("/v1/jobs?wait=true", json={**SMALL, "prompt": "a lighthouse"})).json()
        page = await _until_page(path, lambda p: p is not None and len(p.entries) == 3)
        files = _files(path, page)
        assert files[0] == _names(second)[0] and sorted(files[1:]) == sorted(_names(first))
        assert page.entries[0].fields["Prompt"] == "a lighthouse"

        # deleting through the API takes the image off the page
        gone = first["images"][0]
        assert (await srv.client.delete(f"/v1/history/{gone['history_id']}")).status_code == 200
        page = await _until_page(path, lambda p: p is not None and len(p.entries) == 2)
        assert _names(first)[0] not in _files(path, page)

        # a file removed by hand leaves the page at the next reconcile
        (path.parent / _names(second)[0]).unlink()
        assert (await srv.client.post("/v1/history/reconcile")).json()["removed"] == 1
        page = await _until_page(path, lambda p: p is not None and len(p.entries) == 1)
        assert _files(path, page) == [_names(first)[1]]

        # no image left in the folder: no page
        ids = [first["images"][1]["history_id"]]
        assert (await srv.client.post("/v1/history/delete", json={"ids": ids})).json()["deleted"] == ids
        await _until_page(path, lambda p: p is None)


@pytest.mark.anyio
async def test_a_fooocus_log_is_never_overwritten(tmp_path) -> None:
    settings = server_settings(tmp_path)
    outputs = Path(settings.outputs_dir)
    async with running(settings) as srv:
        first = (await srv.client.post("/v1/jobs?wait=true", json=SMALL)).json()
        path = _page_path(outputs, first)
        await _until_page(path, lambda p: p is not None and len(p.entries) == 1)
        fooocus = "<!DOCTYPE html><html><head><title>Fooocus Log</title></head><body>its own</body></html>"
        path.write_text(fooocus)
        second = (await srv.client.post("/v1/jobs?wait=true", json=SMALL)).json()
        ours = path.parent / "remgo-log.html"
        page = await _until_page(ours, lambda p: p is not None and len(p.entries) == 2)
        assert _files(ours, page)[0] == _names(second)[0]
        assert path.read_text() == fooocus


@pytest.mark.anyio
async def test_the_daily_log_setting_turns_it_off(tmp_path) -> None:
    settings = server_settings(tmp_path, daily_log=False)
    async with running(settings) as srv:
        job = (await srv.client.post("/v1/jobs?wait=true", json=SMALL)).json()
        assert job["status"] == "succeeded"
    # the server has stopped: anything it was going to write is written
    folder = _page_path(Path(settings.outputs_dir), job).parent
    assert sorted(p.name for p in folder.iterdir()) == _names(job)


def test_history_commands_keep_the_pages(tmp_path) -> None:
    """`remgo history import --copy` and `remgo history reconcile` (no server running) update the pages."""
    source = tmp_path / "fooocus-outputs" / "2024-05-06"
    for i, prompt in enumerate(["a <b>cat</b>", "a dog"]):
        write_image(source / f"2024-05-06_10-11-1{i}_{i}.png", "png", sample_params(prompt=prompt, seed=10 + i))
    out = tmp_path / "outputs"
    done = remgo("history", "import", str(source.parent), "--copy", "--outputs", str(out))
    assert done.returncode == 0, done.stderr
    path = out / "2024-05-06" / "log.html"
    page = read_page(path)
    assert [e.fields["Prompt"] for e in page.entries] == ["a dog", "a <b>cat</b>"]  # newest first
    assert _files(path, page) == ["2024-05-06_10-11-11_1.png", "2024-05-06_10-11-10_0.png"]
    assert [e.fields["Seed"] for e in page.entries] == ["11", "10"]

    (path.parent / "2024-05-06_10-11-11_1.png").unlink()
    done = remgo("history", "reconcile", "--outputs", str(out))
    assert done.returncode == 0 and '"removed": 1' in done.stdout, done
    page = read_page(path)
    assert [e.fields["Prompt"] for e in page.entries] == ["a <b>cat</b>"]

    # with the setting off the page is left as it is
    (path.parent / "2024-05-06_10-11-10_0.png").unlink()
    done = remgo("history", "reconcile", "--outputs", str(out), REMGO_DAILY_LOG="false")
    assert done.returncode == 0 and '"removed": 1' in done.stdout, done
    assert len(read_page(path).entries) == 1
