"""Fooocus's styles and the default preset, as a user meets them: a fresh install's default job, a Fooocus
install pointed at with REMGO_MODEL_ROOTS, and `remgo styles import` run as a command next to a server.

The Fooocus install here is a folder laid out like one (`sdxl_styles/sdxl_styles_fooocus.json` …,
`models/checkpoints/`), written by the test with styles in its own words: Fooocus's text is never needed
to check that a user's file is read as it is and its template applied.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from bench.harness.in_process import free_socket
from bench.harness.settings import kernel_spec, make_catalog, server_settings
from tests.orchestrator.cli.cli_run import cli_env, remgo, remgo_cmd
from tests.orchestrator.server_thread import ServerThread, wait_job

FRESH_NOTES = [
    "checkpoint juggernautXL_v8Rundiffusion.safetensors is not installed; tiny.safetensors (the first checkpoint "
    "found) is used",
    "LoRA sd_xl_offset_example-lora_1.0.safetensors is not installed; left out",
    "style Fooocus V2 needs Fooocus's prompt-expansion model, which remgo does not run; left out",
    "styles Fooocus Enhance, Fooocus Sharp are not installed; left out (`remgo styles import /path/to/Fooocus` "
    "adds Fooocus's styles)",
]
SMALL = {"image_number": 1, "overwrite_width": 256, "overwrite_height": 256, "overwrite_step": 2}


def _write(path: Path, entries: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(entries, indent=4), encoding="utf-8")


def fooocus_install(root: Path) -> Path:
    """Fooocus's layout: its style files by their names (raw names in the SAI file, as Fooocus writes them),
    a samples folder of pictures, and a models folder with the default preset's checkpoint."""
    styles = root / "sdxl_styles"
    _write(styles / "sdxl_styles_fooocus.json", [
        {"name": "Fooocus Enhance", "prompt": "", "negative_prompt": "test-enhance: blur, noise"},
        {"name": "Fooocus Sharp", "prompt": "{prompt}, test-sharp: crisp lines", "negative_prompt": "test-sharp: mush"},
    ])
    _write(styles / "sdxl_styles_sai.json", [
        {"name": "sai-anime", "prompt": "test-anime drawing of {prompt}", "negative_prompt": "photo"}])
    # A name remgo ships as well: the user's Fooocus file is the one used.
    _write(styles / "sdxl_styles_twri.json", [
        {"name": "Watercolor Painting", "prompt": "test-watercolor {prompt}\nsecond test line"}])
    (styles / "samples").mkdir()
    (styles / "samples" / "fooocus_sharp.jpg").write_bytes(b"not looked at")
    checkpoint = root / "models" / "checkpoints" / "juggernautXL_v8Rundiffusion.safetensors"
    checkpoint.parent.mkdir(parents=True)
    checkpoint.write_bytes(b"placeholder")
    return root


def digests(folder: Path) -> dict[str, tuple[str, int]]:
    return {p.relative_to(folder).as_posix(): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def submit(client: httpx.Client, body: dict) -> dict:
    answer = client.post("/v1/jobs", json=body)
    assert answer.status_code == 202, answer.text
    job = wait_job(client, answer.json()["id"], {"succeeded", "failed", "cancelled"})
    assert job["status"] == "succeeded", job["error"]
    return job


def test_a_default_job_on_a_fresh_install_has_no_warnings(tmp_path, caplog) -> None:
    caplog.set_level(logging.INFO, logger="remgo")
    settings = server_settings(tmp_path)  # the repository's presets and styles, one checkpoint, no LoRA
    with ServerThread(settings) as srv, srv.client() as client:
        job = submit(client, {"prompt": "a red fox"})  # nothing but a prompt: the default preset's job
        assert job["warnings"] == []
        image = job["normalized"]["images"][0]
        assert (image["base_model"], image["loras"], image["styles"]) == ("tiny.safetensors", [], [])
        assert job["normalized"]["tasks"][0]["positive"] == ["a red fox"]
        assert submit(client, {"prompt": "a red fox", **SMALL})["warnings"] == []
        # What was changed is said where the page and other clients read the preset.
        preset = client.get("/v1/presets/default").json()
        assert preset["adjustments"] == FRESH_NOTES
        assert preset["values"]["loras"] == [] and preset["values"]["style_selections"] == []
        assert preset["raw"]["default_loras"] == [[True, "sd_xl_offset_example-lora_1.0.safetensors", 0.1]]
        # A preset the job chooses itself: what it lacks here is news for that job.
        chosen = submit(client, {"prompt": "a red fox", "preset": "realistic", **SMALL})
        assert ("preset 'realistic': checkpoint realisticStockPhoto_v20.safetensors is not installed; "
                "tiny.safetensors (the first checkpoint found) is used") in chosen["warnings"]
        assert client.post("/v1/catalog/rescan").json()["adjustments"]["default"] == FRESH_NOTES  # not re-logged
    said = [r.getMessage() for r in caplog.records if r.name == "remgo" and "default preset" in r.getMessage()]
    assert said == [f"default preset 'default': {note}" for note in FRESH_NOTES]  # once, at start


def test_a_fooocus_install_as_model_root_brings_its_styles(tmp_path) -> None:
    install = fooocus_install(tmp_path / "Fooocus")
    before = digests(install)
    with ServerThread(server_settings(tmp_path, model_roots=[str(install)])) as srv, srv.client() as client:
        styles = client.get("/v1/styles").json()
        names = [s["name"] for s in styles]
        # Fooocus's first, in Fooocus's order, after the two special entries; remgo's own after them.
        assert names[:7] == ["Fooocus V2", "Random Style", "Fooocus Enhance", "Fooocus Sharp", "SAI Anime",
                             "Watercolor Painting", "Remgo Enhance"]
        by_name = {s["name"]: s for s in styles}
        assert by_name["Watercolor Painting"]["origin"] == "fooocus"
        assert by_name["Watercolor Painting"]["source"] == str(install / "sdxl_styles" / "sdxl_styles_twri.json")
        assert by_name["Remgo Sharp"]["origin"] == "remgo"

        job = submit(client, {"prompt": "a red fox", "style_selections": ["Fooocus Sharp", "Watercolor Painting"],
                              "negative_prompt": "text", **SMALL})
        task = job["normalized"]["tasks"][0]
        assert task["positive"] == ["a red fox, test-sharp: crisp lines", "test-watercolor a red fox",
                                    "second test line"]
        assert task["negative"] == ["test-sharp: mush", "text"]
        raw = submit(client, {"prompt": "a cat", "style_selections": ["sai-anime"], **SMALL})
        assert raw["normalized"]["tasks"][0]["positive"] == ["test-anime drawing of a cat"]

        # The default preset, now with its checkpoint and Fooocus's styles here: only what remgo cannot run
        # (prompt expansion) and the missing LoRA are left out, and no job repeats it.
        default = submit(client, {"prompt": "a lighthouse", **SMALL})
        assert default["warnings"] == []
        image = default["normalized"]["images"][0]
        assert (image["base_model"], image["styles"]) == ("juggernautXL_v8Rundiffusion.safetensors",
                                                          ["Fooocus Enhance", "Fooocus Sharp"])
        task = default["normalized"]["tasks"][0]
        assert task["positive"] == ["a lighthouse, test-sharp: crisp lines"]
        assert task["negative"] == ["test-enhance: blur, noise", "test-sharp: mush"]
    assert digests(install) == before  # read, never written


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("styles-import")
    with ServerThread(server_settings(tmp)) as srv:
        yield srv


def import_styles(server, catalog_dir: Path, *args: str):
    return remgo("styles", "import", *args, "--server", server.url, REMGO_CATALOG_DIR=str(catalog_dir))


def test_remgo_styles_import_copies_fooocus_files_and_the_server_uses_them(server, tmp_path) -> None:
    catalog = Path(server.settings.catalog_dir)
    install = fooocus_install(tmp_path / "Fooocus")
    before = digests(install)
    with server.client() as client:
        assert client.post("/v1/jobs", json={"prompt": "x", "style_selections": ["Fooocus Sharp"]}).status_code == 422

        done = import_styles(server, catalog, str(install))
        assert done.returncode == 0, done.stderr
        assert "imported 4 styles from 3 file(s)" in done.stdout
        assert f"the server at {server.url} offers them now (4 styles from these files)" in done.stdout
        imported = catalog / "styles" / "fooocus"
        for name in ("sdxl_styles_fooocus.json", "sdxl_styles_sai.json", "sdxl_styles_twri.json"):
            assert (imported / name).read_bytes() == (install / "sdxl_styles" / name).read_bytes()  # as they are
        assert not (imported / "samples").exists()
        assert digests(install) == before

        job = submit(client, {"prompt": "a red fox", "style_selections": ["Fooocus Sharp", "Watercolor Painting"],
                              **SMALL})
        assert job["normalized"]["tasks"][0]["positive"] == ["a red fox, test-sharp: crisp lines",
                                                             "test-watercolor a red fox", "second test line"]
        assert job["warnings"] == []
        # The default preset is fitted anew: Fooocus's styles are here now.
        preset = client.get("/v1/presets/default").json()
        assert preset["values"]["style_selections"] == ["Fooocus Enhance", "Fooocus Sharp"]

        # One file more (a file of one's own, next to Fooocus's), then the sdxl_styles folder given itself:
        # a folder import is the whole set again.
        extra = tmp_path / "my_styles.json"
        _write(extra, [{"name": "my-test-style", "prompt": "mine: {prompt}"}])
        assert import_styles(server, catalog, str(extra)).returncode == 0
        names = {s["name"]: s for s in client.get("/v1/styles").json()}
        assert names["My Test Style"]["source"] == "fooocus/my_styles.json"
        again = import_styles(server, catalog, str(install / "sdxl_styles"), "--json")
        assert again.returncode == 0, again.stderr
        summary = json.loads(again.stdout)
        assert (summary["files"], summary["styles"], summary["server"]) == (
            ["sdxl_styles_fooocus.json", "sdxl_styles_sai.json", "sdxl_styles_twri.json"], 4, "rescanned")
        assert "My Test Style" not in {s["name"] for s in client.get("/v1/styles").json()}


def test_remgo_styles_import_refuses_what_is_not_a_style_file(server, tmp_path) -> None:
    catalog = tmp_path / "catalog"
    shutil.copytree(make_catalog(tmp_path / "other"), catalog)
    missing = import_styles(server, catalog, str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and "no such file or folder; nothing imported" in missing.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    nothing = import_styles(server, catalog, str(empty))
    assert nothing.returncode == 2 and "neither a Fooocus install" in nothing.stderr
    bad = tmp_path / "bad.json"
    bad.write_text('{"name": "not a list"}')
    refused = import_styles(server, catalog, str(bad))
    assert refused.returncode == 2 and "no style file could be read" in refused.stderr
    assert not (catalog / "styles" / "fooocus").exists()
    # A good file imported into a catalog the server does not read: said, not claimed as done.
    good = tmp_path / "good.json"
    _write(good, [{"name": "Elsewhere", "prompt": "{prompt}"}])
    other = import_styles(server, catalog, str(good))
    assert other.returncode == 1 and "offers none of them: it reads another catalog folder" in other.stderr
    assert (catalog / "styles" / "fooocus" / "good.json").read_bytes() == good.read_bytes()


def test_remgo_styles_import_without_a_server(tmp_path) -> None:
    catalog = make_catalog(tmp_path)
    install = fooocus_install(tmp_path / "Fooocus")
    done = remgo("styles", "import", str(install / "sdxl_styles" / "sdxl_styles_sai.json"),
                 "--server", "http://127.0.0.1:9", REMGO_CATALOG_DIR=str(catalog))
    assert done.returncode == 0, done.stderr
    assert "no server is running; one started later reads them" in done.stdout
    assert (catalog / "styles" / "fooocus" / "sdxl_styles_sai.json").is_file()
    two = remgo("styles", "anime", "extra")
    assert two.returncode == 2 and "one FILTER at most" in two.stderr and "remgo styles import PATH" in two.stderr
    bare = remgo("styles", "import")
    assert bare.returncode == 2 and "PATH is needed" in bare.stderr


def test_remgo_serve_says_the_default_preset_changes_once_in_its_terminal(tmp_path) -> None:
    port = free_socket()
    number = port.getsockname()[1]
    port.close()
    env = cli_env(REMGO_CATALOG_DIR=str(make_catalog(tmp_path)), REMGO_WORKER_KERNEL=kernel_spec(),
                  REMGO_WORKER_THREADS="1", REMGO_PORT=str(number))
    proc = subprocess.Popen(remgo_cmd("serve", "--state-dir", str(tmp_path / "state"), "--outputs-dir",
                                      str(tmp_path / "out")), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, cwd=tmp_path)
    url = f"http://127.0.0.1:{number}"
    try:
        deadline = time.monotonic() + 60
        while not _ready(url):
            assert proc.poll() is None and time.monotonic() < deadline, "the server did not become ready"
            time.sleep(0.1)
        for _ in range(2):
            job = httpx.post(f"{url}/v1/jobs?wait=true", json={"prompt": "a fox", **SMALL}, timeout=60).json()
            assert job["status"] == "succeeded" and job["warnings"] == []
        proc.send_signal(signal.SIGINT)
        out = proc.communicate(timeout=30)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    for note in FRESH_NOTES:
        assert out.count(f"default preset 'default': {note}") == 1, out
    assert out.count("default preset") == len(FRESH_NOTES)


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health").json()["ready"]
    except httpx.HTTPError:
        return False
