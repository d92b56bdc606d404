"""What a Fooocus or AUTOMATIC1111 user is told when a value is off: the field, plain words instead of
msgspec's type names, the close name (Fooocus's own spelling), and the hint printed once by the CLI."""

from __future__ import annotations

import pytest

from bench.harness.settings import SMALL, server_settings
from tests.orchestrator.cli.cli_run import remgo
from tests.orchestrator.server_thread import ServerThread


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with ServerThread(server_settings(tmp_path_factory.mktemp("wording"))) as srv:
        yield srv


# (changes to a small request, field, message, suggestions): the values are what the user typed.
REFUSED = [
    ({"performance_selection": "speed"}, "$.performance_selection",
     "'speed' is not one of Quality, Speed, Extreme Speed, Lightning, Hyper-SD", ["Speed"]),
    ({"steps": 20}, "$.steps", "unknown field `steps`", ["overwrite_step"]),
    ({"image_seed": "12"}, "$.image_seed", "must be an integer or null, got a string ('12')", []),
    ({"image_number": 40}, "$.image_number", "must be between 1 and 32, got 40", []),
    ({"output_format": "PNG"}, "$.output_format", "'PNG' is not one of png, jpeg, webp", ["png"]),
]


def test_refusals_name_the_field_in_plain_words_with_the_close_name(server) -> None:
    with server.client() as client:
        for changes, field, message, suggestions in REFUSED:
            r = client.post("/v1/jobs", json={**SMALL, **changes})
            assert r.status_code == 422, (changes, r.text)
            error = r.json()["error"]
            assert (error["field"], error["message"], error.get("suggestions", [])) == (field, message, suggestions)
        assert client.get("/v1/jobs").json()["jobs"] == []


def test_an_a1111_sampler_name_is_answered_with_fooocus_names(server) -> None:
    with server.client() as client:
        r = client.post("/v1/jobs", json={**SMALL, "sampler_name": "DPM++ 2M Karras"})
        assert r.status_code == 422
        error = r.json()["error"]
        assert error["field"] == "$.sampler_name" and error["suggestions"] == ["dpmpp_2m"]
        assert "AUTOMATIC1111" in error["message"] and "/sdapi/v1" in error["message"]
        assert 'sampler_name "dpmpp_2m" with scheduler_name "karras"' in error["message"]
        # What it says to send is accepted.
        r = client.post("/v1/jobs?wait=true", json={**SMALL, "sampler_name": "dpmpp_2m", "scheduler_name": "karras"})
        assert r.json()["status"] == "succeeded", r.text
        assert r.json()["normalized"]["tasks"][0]["sampler"] == "dpmpp_2m"


def test_the_cli_prints_the_hint_once(server) -> None:
    for args, field, hint in ((["--set", "promt=x"], "$.promt", "(did you mean prompt?)"),
                              (["--set", "steps=4"], "$.steps", "(did you mean overwrite_step?)"),
                              (["--performance", "speed"], "$.performance_selection", "(did you mean Speed?)")):
        done = remgo("generate", "a fox", "--model", "tiny.safetensors", *args, "--server", server.url)
        assert done.returncode == 2, done.stderr
        assert f"the server refused (422): {field}: " in done.stderr and hint in done.stderr, done.stderr
        assert done.stderr.count("did you mean") == 1, done.stderr
