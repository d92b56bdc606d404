"""Seeds up to 2^63 - 1 through `remgo` (a real process) and the history index, every digit kept; tables print
server text as it is (a prompt's `[red]` is text, digits in file names are not coloured)."""

from __future__ import annotations

import json
import shutil

import pytest

from bench.harness.settings import server_settings
from orchestrator.store.history.index import DB_NAME
from tests.orchestrator.cli.cli_run import remgo
from tests.orchestrator.server_thread import ServerThread

TOP = 2**63 - 1  # Fooocus's largest seed; the next image's seed wraps to 0
BIG = 4944788763838947921
FAST = ["--model", "tiny.safetensors", "--size", "256x256", "--style", "none", "--steps", "2", "-q"]


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    return server_settings(tmp_path_factory.mktemp("cli-seeds"))


@pytest.fixture(scope="module")
def made(settings, tmp_path_factory):
    """Two jobs made with `remgo generate`: [TOP, 0] in Fooocus's metadata, [BIG] in A1111's."""
    out = tmp_path_factory.mktemp("saved")
    with ServerThread(settings) as srv:
        jobs = []
        for prompt, seed, n, scheme in (("a [red] kite at the top seed", TOP, "2", "fooocus"),
                                        ("a big seed kite", BIG, "1", "a1111")):
            done = remgo("generate", prompt, "--seed", str(seed), "-n", n, *FAST, "--set", f"metadata_scheme={scheme}",
                         "--out", str(out), "--json", "--server", srv.url)
            assert done.returncode == 0, done.stderr
            jobs.append(json.loads(done.stdout))
        yield srv, jobs


def run(srv, *args: str, **env: str):
    done = remgo(*args, "--server", srv.url, **env)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_generate_and_jobs_show_keep_every_digit(made) -> None:
    srv, (top, big) = made
    assert [i["seed"] for i in top["images"]] == [TOP, 0] and [i["seed"] for i in big["images"]] == [BIG]
    shown = run(srv, "jobs", "show", top["id"])
    assert f"image 0: done seed {TOP} " in shown and "image 1: done seed 0 " in shown
    assert json.loads(run(srv, "jobs", "show", big["id"], "--json"))["request"]["image_seed"] == BIG


def test_history_search_keeps_every_digit_and_prints_text_as_it_is(made) -> None:
    srv, _ = made
    items = json.loads(run(srv, "history", "search", "kite", "--json"))["items"]
    assert sorted((i["seed"], i["params"]["seed"]) for i in items) == [(0, 0), (BIG, BIG), (TOP, TOP)]
    # FORCE_COLOR: rich colours as on a terminal. The table still shows the prompt's brackets and each
    # seed and URL with every digit, with no colour codes inside them.
    table = run(srv, "history", "search", "kite", FORCE_COLOR="1", COLUMNS="200")
    rows = {item["id"]: item for item in items}
    for line in table.splitlines()[1:]:
        item = rows[line.split()[0]]
        assert f" {item['seed']} " in line and item["url"] in line and "\x1b" not in line, repr(line)
    assert "a [red] kite at the top seed" in table


def test_the_history_rebuilt_from_the_files_keeps_every_digit(made, settings, tmp_path) -> None:
    """The images without their index, under another server: rebuilt from the metadata embedded in the
    files, Fooocus's and A1111's schemes keep the exact seeds."""
    outputs = tmp_path / "outputs"
    shutil.copytree(settings.outputs_dir, outputs, ignore=shutil.ignore_patterns(f"{DB_NAME}*", ".thumbs"))
    assert not list(outputs.glob(f"{DB_NAME}*"))
    with ServerThread(server_settings(tmp_path, outputs_dir=str(outputs))) as again, again.client() as client:
        assert client.post("/v1/history/reconcile").status_code == 200
        items = client.get("/v1/history", params={"q": "kite"}).json()["items"]
    assert sorted(i["seed"] for i in items) == [0, BIG, TOP]
    assert sorted(i["params"]["seed"] for i in items) == [0, BIG, TOP]
    assert {i["scheme"] for i in items} == {"fooocus", "a1111"}
