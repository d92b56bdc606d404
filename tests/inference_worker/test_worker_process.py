"""The worker as a process: stdout guard, start-up before the kernel is ready, exit codes."""

from __future__ import annotations

import base64
import io
import subprocess
import sys
import time

from PIL import Image

from bench.harness.worker_kernels import HOLD, WORKER_KERNELS
from inference_worker.process_client import REPO, WorkerClient, default_worker_cmd, worker_env

TASK = {
    "task_id": "t",
    "base_model": {"name": "m", "path": "/models/m.safetensors"},
    "width": 64,
    "height": 64,
    "seeds": [1, 2],
    "steps": 3,
}


def spawn(kernel: str, env: dict | None = None) -> WorkerClient:
    return WorkerClient(default_worker_cmd(), "--kernel", f"{WORKER_KERNELS}:{kernel}", env=env)


def test_prints_from_a_kernel_never_reach_the_protocol_stream():
    with spawn("PrintingKernel") as w:
        res = w.call("generate", TASK)["result"]
        assert len(res["images"]) == 2
        assert w.call("health")["result"]["kernel"] == "printing"
        assert w.garbage == [] and 1 not in w.responses
        assert w.close() == 0
    assert any(b"must not reach the protocol stream" in line for line in w.stderr_lines)
    assert any(b"forged by a raw write" in line for line in w.stderr_lines)


def test_health_answers_while_the_kernel_is_still_loading():
    with spawn("SlowStartKernel", {"REMGO_TEST_KERNEL_INIT_DELAY": "3"}) as w:
        health = w.call("health", timeout=10)["result"]
        assert health["kernel_state"] == "loading" and health["busy"] is False  # answered before the kernel was up
        # A generate sent now waits for the kernel, then runs.
        assert len(w.call("generate", TASK, timeout=20)["result"]["images"]) == 2
        assert w.call("health")["result"]["kernel_state"] == "ready"


def test_end_of_input_exits_cleanly():
    w = spawn("ColorKernel")
    w.call("health")
    assert w.close() == 0


def test_shutdown_while_generating_stops_and_exits_zero():
    w = spawn("ColorKernel", {"REMGO_TEST_STEP_DELAY": "0.05"})
    rid = w.send("generate", dict(TASK, steps=20, positive=[f"runs until stopped {HOLD}"]))
    w.wait_for(lambda n: n["params"]["step"] >= 1)
    ack = w.call("shutdown")
    assert ack["result"]["ok"] is True
    assert w.proc.wait(20) == 0
    answer = w.responses.get(rid)
    assert answer is not None and answer["result"]["stopped"] is True


def test_a_hung_kernel_does_not_block_shutdown():
    w = spawn("HangingKernel", {"REMGO_WORKER_SHUTDOWN_GRACE": "1"})
    w.send("generate", TASK)
    w.wait_for(lambda n: n["params"]["step"] == 1)
    time.sleep(0.3)
    assert [n["params"]["step"] for n in w.notifications if n["params"]["stage"] == "sampling"][-1] == 1
    assert w.call("health")["result"]["busy"] is True  # health still answers
    w.call("shutdown")
    assert w.proc.wait(20) == 0


def test_starting_the_server_does_not_import_torch():
    code = (
        "import sys, inference_worker.__main__, inference_worker.server, inference_worker.task_run;"
        "assert 'torch' not in sys.modules, 'torch imported'; print('ok')"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=worker_env(), capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_cli_rejects_bad_options():
    for args in (["--device", "tpu"], ["--pipeline-cache", "0"], ["--threads", "0"]):
        out = subprocess.run(
            [*default_worker_cmd(), *args],
            cwd=REPO,
            env=worker_env(),
            capture_output=True,
            text=True,
            input="",
        )
        assert out.returncode != 0 and args[0] in out.stderr


def test_images_beside_the_frame_are_the_files_base64_carried():
    """`framing` turns attachments on and off; with them on, each image's file follows the frame as raw bytes,
    read here by byte count off the real pipe, and they are exactly the files the base64 answer carries."""
    with spawn("ColorKernel") as w:
        before = w.call("generate", TASK)["result"]
        assert w.call("framing", {"attachments": True})["result"] == {"attachments": True}
        rid = w.send("generate", TASK)
        beside = w.wait(rid)
        files = w.attachments[rid]
        assert beside["attachments"] == [len(f) for f in files] and len(files) == 2
        assert [(i["data"], i["attachment"]) for i in beside["result"]["images"]] == [("", 0), ("", 1)]
        assert files == [base64.b64decode(i["data"]) for i in before["images"]]
        assert all(Image.open(io.BytesIO(f)).size == (64, 64) for f in files)
        assert w.call("health")["result"]["busy"] is False  # the stream stays in step after the bytes
        assert w.call("framing", {"attachments": False})["result"] == {"attachments": False}
        after = w.call("generate", TASK)
        assert "attachments" not in after and after["result"]["images"] == before["images"]
        refused = w.call("framing", {"attachments": True, "images": "raw"})["error"]
        assert refused["code"] == -32602 and refused["data"]["field"] == "images"
        assert w.garbage == []
