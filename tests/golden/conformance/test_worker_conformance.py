"""Worker conformance: what any worker executable must do, whatever its kernel.

    pytest tests/golden --worker-cmd "remgo-worker --device cuda:0"

The command must speak the contract on stdin/stdout and accept `--kernel module:Class` (used for the
printing and raising kernels). Generations use the tiny SDXL checkpoint built by the `tiny_models` fixture.
"""

from __future__ import annotations

import io
import os
import shlex

import msgspec
import pytest
from PIL import Image

from bench.harness.worker_kernels import WORKER_KERNELS
from contract import rpc
from contract.events import Progress, TaskResult
from contract.task import CONTRACT_VERSION
from inference_worker.process_client import WorkerClient, default_worker_cmd


@pytest.fixture(scope="module")
def worker_cmd(request) -> list[str]:
    given = request.config.getoption("--worker-cmd", default=None)
    if given:
        return shlex.split(given)
    return [*default_worker_cmd(), "--threads", os.environ.get("REMGO_TEST_THREADS", "1")]


@pytest.fixture(scope="module")
def worker(worker_cmd):
    with WorkerClient(worker_cmd) as client:
        yield client
        assert client.garbage == [], "the worker wrote something that is not a JSON-RPC frame"


@pytest.fixture(scope="module")
def make_task(tiny_models):
    counter = iter(range(10_000))

    def build(**fields) -> dict:
        task = {
            "task_id": f"conf-{next(counter)}",
            "base_model": {"name": "tiny-sdxl", "path": tiny_models.sdxl_file},
            "width": 64,
            "height": 64,
            "seeds": [101],
            "steps": 3,
            "sampler": "euler",
            "scheduler": "karras",
            "positive": ["a small boat"],
            "negative": [""],
        }
        task.update(fields)
        return task

    return build


def test_health(worker):
    health = msgspec.convert(worker.call("health", timeout=30)["result"], rpc.Health)
    assert health.contract_version == CONTRACT_VERSION
    assert health.kernel and health.device and health.busy is False


def test_version_mismatch_is_refused_naming_both_versions(worker, make_task):
    err = worker.call("generate", make_task(contract_version=CONTRACT_VERSION + 7))["error"]
    assert err["code"] == rpc.VERSION_MISMATCH
    assert str(CONTRACT_VERSION) in err["message"] and str(CONTRACT_VERSION + 7) in err["message"]


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
def test_generate_returns_the_images_asked_for(worker, make_task, fmt):
    task = make_task(seeds=[7, 8], width=96, height=64, output_format=fmt)
    result = msgspec.convert(worker.call("generate", task, timeout=300)["result"], TaskResult)
    assert result.task_id == task["task_id"] and not result.stopped
    assert [(i.index, i.seed) for i in result.images] == [(0, 7), (1, 8)]
    for entry in result.images:
        assert entry.format == fmt
        img = Image.open(io.BytesIO(entry.data))
        assert img.size == (96, 64) and (entry.width, entry.height) == (96, 64)
        assert img.format == {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}[fmt]


def test_same_seed_gives_identical_bytes(worker, make_task):
    a = worker.call("generate", make_task(seeds=[42]), timeout=300)["result"]["images"][0]["data"]
    b = worker.call("generate", make_task(seeds=[42]), timeout=300)["result"]["images"][0]["data"]
    c = worker.call("generate", make_task(seeds=[43]), timeout=300)["result"]["images"][0]["data"]
    assert a == b and a != c


def test_progress_notifications_are_monotone_and_complete(worker, make_task):
    task = make_task(seeds=[1, 2], steps=4)
    worker.call("generate", task, timeout=300)
    notes = [msgspec.convert(p, Progress) for p in worker.progress_of(task["task_id"])]
    order = [(p.image_index, p.step) for p in notes]
    assert order == sorted(order)
    assert all(p.images_total == 2 and p.steps_total == 4 for p in notes)
    for index in (0, 1):
        steps = {p.step for p in notes if p.image_index == index and p.stage.value == "sampling"}
        assert {1, 2, 3, 4} <= steps
    assert worker.call("progress", {"task_id": task["task_id"]})["result"]["task_id"] == task["task_id"]


def test_stop_ends_the_task_and_marks_it(worker, make_task):
    task = make_task(seeds=[1, 2], steps=60)
    rid = worker.send("generate", task)
    worker.wait_for(
        lambda n: n["params"]["task_id"] == task["task_id"] and n["params"]["step"] >= 1, timeout=120
    )
    assert worker.call("stop", {"task_id": task["task_id"], "mode": "stop"})["result"]["ok"] is True
    result = worker.wait(rid, timeout=300)["result"]
    assert result["stopped"] is True and len(result["images"]) < 2
    assert worker.call("health")["result"]["busy"] is False


def test_skip_drops_only_the_current_image(worker, make_task):
    task = make_task(seeds=[1, 2], steps=60)
    rid = worker.send("generate", task)
    worker.wait_for(
        lambda n: n["params"]["task_id"] == task["task_id"] and n["params"]["step"] >= 1, timeout=120
    )
    worker.call("stop", {"task_id": task["task_id"], "mode": "skip"})
    result = worker.wait(rid, timeout=300)["result"]
    assert result["stopped"] is False and result["skipped"] == [0]
    assert [i["index"] for i in result["images"]] == [1]


def test_bad_input_gets_the_right_errors(worker, make_task):
    err = worker.call("generate", make_task(width=65))["error"]
    assert err["code"] == rpc.INVALID_PARAMS and err["data"]["field"] == "width"
    assert worker.call("frobnicate")["error"]["code"] == rpc.METHOD_NOT_FOUND
    assert worker.call("stop", {"task_id": "nobody"})["error"]["code"] == rpc.UNKNOWN_TASK
    worker.send_raw(b"{oops\n")
    assert worker.wait(None)["error"]["code"] == rpc.PARSE_ERROR
    assert worker.call("health")["result"]["busy"] is False


def test_a_kernel_printing_to_stdout_cannot_corrupt_frames(worker_cmd, make_task):
    with WorkerClient(worker_cmd, "--kernel", f"{WORKER_KERNELS}:PrintingKernel") as w:
        result = w.call("generate", make_task(seeds=[1, 2]), timeout=120)["result"]
        assert len(result["images"]) == 2
        assert w.garbage == []
        assert w.call("health")["result"]["busy"] is False


def test_a_raising_kernel_yields_an_error_and_the_worker_lives(worker_cmd, make_task):
    with WorkerClient(worker_cmd, "--kernel", f"{WORKER_KERNELS}:RaisingKernel") as w:
        for _ in range(2):
            err = w.call("generate", make_task(), timeout=120)["error"]
            assert err["code"] == rpc.GENERATION_FAILED and "exploded" in err["message"]
        assert w.call("health")["result"]["busy"] is False
        assert w.close() == 0
