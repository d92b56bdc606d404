"""`remgo generate` run as a real process against a real server: progress, files, --json, Ctrl-C, errors."""

from __future__ import annotations

import argparse
import base64
import json
import os
import pty
import select
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from PIL import Image

from bench.harness.in_process import free_socket
from bench.harness.settings import REPO_ROOT, make_catalog, server_settings
from bench.harness.worker_kernels import HOLD
from orchestrator.cli import generate as cli_generate
from orchestrator.cli.generate import UsageError, build_request
from tests.orchestrator.catalog.catalog_samples import write_models
from tests.orchestrator.cli.cli_run import cli_env, remgo, remgo_cmd
from tests.orchestrator.server_thread import ServerThread, wait_job

FAST = ["--model", "tiny.safetensors", "--size", "256x256", "--style", "none"]


@pytest.fixture(scope="module")
def color_server(tmp_path_factory):
    with ServerThread(server_settings(tmp_path_factory.mktemp("cli-gen"), step_delay=0.02)) as srv:
        yield srv


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli_generate.add_parser(parser.add_subparsers())
    return parser.parse_args(["generate", *argv])


def test_flags_become_a_request_with_only_what_was_given() -> None:
    assert build_request(_args("a fox")) == {"prompt": "a fox"}
    body = build_request(_args("a fox", "-n", "3", "--size", "1152x896", "--style", "SAI Anime", "--style", "Fooocus Sharp",
                               "--seed", "7", "--model", "m.safetensors", "--steps", "4", "--preset", "anime",
                               "--negative", "blur", "--performance", "Speed",
                               "--set", "guidance_scale=5.5", "--set", "sampler_name=euler", "--set", 'loras=[["x", 1]]'))
    assert body == {"prompt": "a fox", "image_number": 3, "aspect_ratios_selection": "1152*896",
                    "style_selections": ["SAI Anime", "Fooocus Sharp"], "image_seed": 7, "base_model_name": "m.safetensors",
                    "overwrite_step": 4, "preset": "anime", "negative_prompt": "blur", "performance_selection": "Speed",
                    "guidance_scale": 5.5, "sampler_name": "euler", "loras": [["x", 1]]}
    assert build_request(_args("a fox", "--style", "none"))["style_selections"] == []
    with pytest.raises(UsageError, match="--size"):
        build_request(_args("a fox", "--size", "big"))
    with pytest.raises(UsageError, match="--set"):
        build_request(_args("a fox", "--set", "novalue"))


def test_input_image_flags_send_the_file_inline(tmp_path) -> None:
    photo, mask = tmp_path / "photo.png", tmp_path / "mask.png"
    Image.new("RGB", (64, 48), (200, 40, 40)).save(photo)
    Image.new("L", (64, 48), 255).save(mask)
    inline = base64.b64encode(photo.read_bytes()).decode()
    assert build_request(_args("--vary", "strong", str(photo))) == {
        "prompt": "", "uov_method": "Vary (Strong)", "uov_input_image": inline}
    assert build_request(_args("--upscale", "2x", str(photo)))["uov_method"] == "Upscale (2x)"
    assert build_request(_args("--upscale", "fast", str(photo)))["uov_method"] == "Upscale (Fast 2x)"
    custom = build_request(_args("--upscale", "3", str(photo)))
    assert (custom["uov_method"], custom["upscale_value"]) == ("Upscale (Custom)", 3.0)
    inpaint = build_request(_args("a hat", "--inpaint", str(photo), "--mask", str(mask)))
    assert inpaint["inpaint_input_image"] == inline
    assert base64.b64decode(inpaint["inpaint_mask_image"]) == mask.read_bytes()
    out = build_request(_args("--outpaint", "left,TOP", str(photo)))
    assert (out["outpaint_selections"], out["inpaint_input_image"]) == (["Left", "Top"], inline)
    both = build_request(_args("x", "--inpaint", str(photo), "--mask", str(mask), "--outpaint", "right"))
    assert both["outpaint_selections"] == ["Right"] and "inpaint_mask_image" in both
    for argv, wrong in ((["--vary", "wild", str(photo)], "--vary"), (["--upscale", "huge", str(photo)], "--upscale"),
                        (["--vary", "subtle", str(tmp_path / "none.png")], "cannot read"),
                        (["--mask", str(mask)], "--mask goes with --inpaint"),
                        (["--outpaint", "up", str(photo)], "sides"),
                        (["--vary", "subtle", str(photo), "--inpaint", str(photo)], "one input-image feature")):
        with pytest.raises(UsageError, match=wrong):
            build_request(_args(*argv))


def test_image_prompt_flags(tmp_path) -> None:
    photo = tmp_path / "a:b.png"  # a colon in the path: the options are read from the right
    Image.new("RGB", (64, 48), (20, 40, 200)).save(photo)
    inline = base64.b64encode(photo.read_bytes()).decode()
    body = build_request(_args("a cat", "--image-prompt", str(photo), "--image-prompt", f"{photo}:pyracanny",
                               "--image-prompt", f"{photo}:FaceSwap:0.8", "--image-prompt", f"{photo}:CPDS::1.5",
                               "--vary", "subtle", str(photo)))
    assert body["image_prompts"] == [{"image": inline}, {"image": inline, "type": "PyraCanny"},
                                     {"image": inline, "type": "FaceSwap", "stop": 0.8},
                                     {"image": inline, "type": "CPDS", "weight": 1.5}]
    assert body["uov_method"] == "Vary (Subtle)"  # mixed with an input image
    for argv, wrong in (([f"{photo}:Depth"], "TYPE one of ImagePrompt, FaceSwap, PyraCanny, CPDS"),
                        ([f"{photo}:CPDS:high"], "must be numbers"),
                        ([str(photo)] * 5, "at most 4")):
        with pytest.raises(UsageError, match=wrong):
            build_request(_args("x", *[a for spec in argv for a in ("--image-prompt", spec)]))


def test_generate_with_an_image_prompt_runs_on_the_server(tmp_path) -> None:
    write_models(make_catalog(tmp_path) / "models", {"controlnet": ["fooocus_xl_cpds_128.safetensors"]})
    photo = tmp_path / "ref.png"
    Image.new("RGB", (64, 48), (20, 40, 200)).save(photo)
    with ServerThread(server_settings(tmp_path)) as srv:
        done = remgo("generate", "a cat", "--image-prompt", f"{photo}:CPDS:0.3", "--steps", "2", *FAST,
                     "--out", str(tmp_path / "out"), "--server", srv.url, "--json")
        assert done.returncode == 0, done.stderr
        job = srv.client().get(f"/v1/jobs/{json.loads(done.stdout)['id']}").json()
        (prompt,) = job["normalized"]["tasks"][0]["image_prompts"]
        assert (prompt["type"], prompt["stop"], prompt["weight"]) == ("CPDS", 0.3, 1.0)
        assert prompt["model"]["name"] == "fooocus_xl_cpds_128.safetensors"
        refused = remgo("generate", "a cat", "--image-prompt", f"{photo}:PyraCanny", *FAST, "--server", srv.url)
        assert refused.returncode == 2 and "image_prompts[0].type" in refused.stderr
        assert "control-lora-canny-rank128.safetensors" in refused.stderr


def test_generate_two_images_on_the_tiny_model(tmp_path, tiny_models) -> None:
    settings = server_settings(tmp_path, worker_kernel=None, model_roots=[tiny_models.root])
    out = tmp_path / "out"
    with ServerThread(settings, ready_timeout=120) as srv:
        done = remgo("generate", "a lighthouse at dusk", "-n", "2", "--seed", "42", "--model", "tiny-sdxl.safetensors",
                     "--size", "256x256", "--steps", "2", "--style", "none", "--set", "sampler_name=euler",
                     "--set", "image_sharpness=0", "--out", str(out), "--server", srv.url, timeout=180)
        assert done.returncode == 0, done.stderr
        paths = [Path(line) for line in done.stdout.split()]
        assert len(paths) == 2 and all(p.parent == out for p in paths)
        for path in paths:
            with Image.open(path) as image:
                assert image.size == (256, 256) and image.format == "PNG"
        assert paths[0].read_bytes() != paths[1].read_bytes()
        # The progress display, fed by the event stream: steps over the whole job, images done, the end state.
        assert "step 4/4 · 2/2 images · succeeded" in done.stderr, done.stderr
        assert "ETA" in done.stderr and f"saved {paths[0]}" in done.stderr
        history = srv.client().get("/v1/history").json()["items"]
        assert {i["seed"] for i in history} == {42, 43}


def test_json_output_lists_the_saved_files(color_server, tmp_path) -> None:
    done = remgo("generate", "a blue boat", "-n", "2", "--seed", "7", "--steps", "3", *FAST, "--out", str(tmp_path),
                 "--server", color_server.url, "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "succeeded"
    assert [i["seed"] for i in result["images"]] == [7, 8]
    assert [Path(f).exists() for f in result["files"]] == [True, True]
    assert result["images"][0]["file"] == result["files"][0]


def test_ctrl_c_cancels_the_job_on_the_server(color_server, tmp_path) -> None:
    # As from a terminal: Ctrl-C's signal in its default state (a test run started in the background
    # inherits it ignored, and Python then never turns it into KeyboardInterrupt).
    proc = subprocess.Popen(remgo_cmd("generate", f"a slow one {HOLD}", "--steps", "20", *FAST, "--out", str(tmp_path),
                                      "--server", color_server.url), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=cli_env(), cwd=REPO_ROOT,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    job_id = None
    try:
        while True:
            line = proc.stderr.readline()
            assert line, "the command ended before showing progress"
            if line.startswith("job ") and " queued" in line:
                job_id = line.split()[1]
            if job_id and "step " in line and "step 0/" not in line:
                break
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 130
        rest = proc.stderr.read()
        assert f"cancelled job {job_id} on the server" in rest, rest
        assert "Traceback" not in rest
    finally:
        if proc.poll() is None:
            proc.kill()
        if job_id is not None:  # whatever failed above, the held job must not keep the shared worker
            with color_server.client() as client:
                client.post(f"/v1/jobs/{job_id}/cancel")
    with color_server.client() as client:
        job = wait_job(client, job_id, {"cancelled", "succeeded", "failed"})
    assert job["status"] == "cancelled"
    assert not list(tmp_path.iterdir())


def test_a_progress_bar_on_a_terminal(color_server, tmp_path) -> None:
    """On a terminal the display is a rich bar: step count, images done, time left; the paths go to stdout,
    as they are: the digits of a relative path are not coloured."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(remgo_cmd("generate", "a red kite", "-n", "1", "--steps", "20", *FAST, "--out", "run-12",
                                      "--server", color_server.url),
                            stdin=follower, stdout=follower, stderr=follower, env=cli_env(COLUMNS="120", TERM="xterm"),
                            cwd=tmp_path)
    os.close(follower)
    output = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
        elif proc.poll() is not None:
            break
    os.close(leader)
    assert proc.wait(10) == 0, output.decode(errors="replace")
    text = output.decode(errors="replace")
    assert "━" in text and "20/20" in text and "1/1 images" in text, text
    [saved] = (tmp_path / "run-12").iterdir()
    assert f"saved run-12/{saved.name}\r\n" in text, text


def test_server_down_says_how_to_start_one(tmp_path) -> None:
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    done = remgo("generate", "a fox", "--out", str(tmp_path), REMGO_PORT=str(port))
    assert done.returncode == 3
    assert f"no remgo server answers at http://127.0.0.1:{port}" in done.stderr
    assert "remgo serve" in done.stderr and "Traceback" not in done.stderr


def test_a_refused_request_names_the_field(color_server, tmp_path) -> None:
    done = remgo("generate", "a fox", "--set", "guidance_scale=99", "--out", str(tmp_path), "--server", color_server.url)
    assert done.returncode == 2
    assert "the server refused (422): $.guidance_scale:" in done.stderr
    done = remgo("generate", "a fox", "--model", "tiny.safetensor", "--out", str(tmp_path), "--server", color_server.url)
    assert done.returncode == 2
    assert "$.base_model_name" in done.stderr and "did you mean tiny.safetensors" in done.stderr


def test_a_failed_job_exits_1_with_its_error(tmp_path) -> None:
    settings = server_settings(tmp_path, kernel="RaisingKernel")
    with ServerThread(settings) as srv:
        done = remgo("generate", "a fox", "--steps", "2", *FAST, "--out", str(tmp_path / "o"), "--server", srv.url)
        assert done.returncode == 1, done.stderr
        assert "failed" in done.stderr and "kernel exploded" in done.stderr
        assert done.stdout == ""
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{srv.url}/health", timeout=2)
