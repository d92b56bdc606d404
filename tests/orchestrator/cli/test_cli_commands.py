"""`remgo jobs`, `remgo history search`, `remgo models`, `remgo styles` against a real server."""

from __future__ import annotations

import json

import pytest

from bench.harness.settings import SMALL, server_settings
from bench.harness.worker_kernels import HOLD
from orchestrator.cli import main as cli
from tests.orchestrator.cli.cli_run import remgo
from tests.orchestrator.server_thread import ServerThread, wait_job


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    settings = server_settings(tmp_path_factory.mktemp("cli-cmd"), step_delay=0.02, api_keys=["k-123"])
    with ServerThread(settings) as srv, srv.client() as client:
        for prompt, seed in (("a lighthouse at dusk", 11), ("a red fox in snow", 12)):
            r = client.post("/v1/jobs?wait=true", json={**SMALL, "prompt": prompt, "image_seed": seed})
            assert r.json()["status"] == "succeeded", r.text
        yield srv


def run(srv, *args: str):
    return remgo(*args, "--server", srv.url, "--api-key", srv.api_key)


def test_the_commands_are_wired_into_remgo() -> None:
    parser = cli.build_parser()
    assert parser.parse_args(["jobs"]).jobs_command is None
    assert parser.parse_args(["jobs", "--json", "list"]).json is True  # the parent's flag survives
    assert parser.parse_args(["jobs", "cancel", "abc"]).id == "abc"
    assert parser.parse_args(["jobs", "--limit", "3"]).limit == 3  # listing needs no sub-word
    assert parser.parse_args(["jobs", "--limit", "3", "list"]).limit == 3
    assert parser.parse_args(["history", "search", "fox"]).text == "fox"
    assert parser.parse_args(["history", "list"]).history_command == "list"  # the local commands stay
    assert parser.parse_args(["models", "--kind", "loras"]).kind == "loras"
    assert parser.parse_args(["styles", "anime"]).filter == "anime"


def test_jobs_list_show_and_cancel(server) -> None:
    with server.client() as client:
        # Runs until it is cancelled, and worded so that nothing it makes matches the history searches below.
        busy = {**SMALL, "prompt": f"a quiet meadow {HOLD}", "overwrite_step": 20, "image_number": 8}
        slow = client.post("/v1/jobs", json=busy).json()["id"]
        queued = client.post("/v1/jobs", json=busy).json()["id"]
        listed = run(server, "jobs")
        assert listed.returncode == 0, listed.stderr
        assert slow in listed.stdout and queued in listed.stdout and "succeeded" in listed.stdout
        page = json.loads(run(server, "jobs", "list", "--status", "queued", "--json").stdout)
        assert [j["id"] for j in page["jobs"]] == [queued] and page["jobs"][0]["position"] == 0
        cancelled = run(server, "jobs", "cancel", queued)
        assert cancelled.returncode == 0 and f"job {queued}: cancelled" in cancelled.stdout
        assert run(server, "jobs", "cancel", slow).returncode == 0
        assert wait_job(client, slow, {"cancelled"})["status"] == "cancelled"
    shown = run(server, "jobs", "show", queued)
    assert f"job {queued}: cancelled" in shown.stdout
    assert json.loads(run(server, "jobs", "show", queued, "--json").stdout)["status"] == "cancelled"
    missing = run(server, "jobs", "cancel", "no-such-job")
    assert missing.returncode == 2 and "(404): id: no job with id 'no-such-job'" in missing.stderr
    bad = run(server, "jobs", "list", "--status", "sleeping")
    assert bad.returncode == 2 and "status:" in bad.stderr


def test_jobs_options_without_the_list_word(server) -> None:
    """`remgo jobs --limit N` and `--status S` list as `remgo jobs list` does; `show` refuses them."""
    page = json.loads(run(server, "jobs", "--limit", "1", "--json").stdout)
    assert len(page["jobs"]) == 1 and page["next_cursor"]
    done = json.loads(run(server, "jobs", "--status", "succeeded", "--limit", "1", "--json").stdout)["jobs"]
    assert [j["status"] for j in done] == ["succeeded"]
    listed = run(server, "jobs", "--status", "succeeded", "--limit", "1")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.count("succeeded") == 1 and done[0]["id"] in listed.stdout
    assert json.loads(run(server, "jobs", "--limit", "1", "list", "--json").stdout)["jobs"] == page["jobs"]
    refused = run(server, "jobs", "--limit", "1", "show", page["jobs"][0]["id"])
    assert refused.returncode == 2 and "--limit applies only to the job list" in refused.stderr


def test_history_search(server) -> None:
    found = run(server, "history", "search", "lighthouse")
    assert found.returncode == 0, found.stderr
    assert "a lighthouse at dusk" in found.stdout and "fox" not in found.stdout
    items = json.loads(run(server, "history", "search", "fox", "--json").stdout)["items"]
    assert [(i["prompt"], i["seed"]) for i in items] == [("a red fox in snow", 12)]
    assert "no image matches 'zebra'" in run(server, "history", "search", "zebra").stdout
    assert json.loads(run(server, "history", "search", "fox", "--model", "other.safetensors", "--json").stdout)["items"] == []
    bad = run(server, "history", "search", "fox", "--since", "yesterday")
    assert bad.returncode == 2 and "since" in bad.stderr


def test_models_and_styles(server) -> None:
    models = run(server, "models")
    assert models.returncode == 0 and "tiny.safetensors" in models.stdout
    assert json.loads(run(server, "models", "--json").stdout)["models"][0]["name"] == "tiny.safetensors"
    assert "no loras on the server" in run(server, "models", "--kind", "loras").stdout
    bad = run(server, "models", "--kind", "lora")
    assert bad.returncode == 2 and "kind: 'lora' is not one of checkpoints, loras" in bad.stderr
    assert bad.stderr.count("did you mean") == 1 and "(did you mean loras?)" in bad.stderr
    styles = run(server, "styles", "anime")
    assert styles.returncode == 0 and "Remgo Anime" in styles.stdout and "Remgo Sharp" not in styles.stdout
    names = [s["name"] for s in json.loads(run(server, "styles", "--json").stdout)]
    assert "Remgo Sharp" in names and "Random Style" in names


def test_a_key_is_needed_and_a_wrong_one_is_named(server) -> None:
    refused = remgo("models", "--server", server.url, "--api-key", "wrong")
    assert refused.returncode == 2 and "(401): Authorization:" in refused.stderr
    from_env = remgo("models", "--server", server.url, REMGO_API_KEY=server.api_key)
    assert from_env.returncode == 0 and "tiny.safetensors" in from_env.stdout
