"""The worker's JSON-RPC behaviour, in process with the torch-free test kernels."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from contract import rpc
from contract.task import CONTRACT_VERSION
from tests.inference_worker.worker_harness import Harness, task


@pytest.fixture
def worker():
    return Harness()


def test_health_answers_with_identity(worker):
    h = worker.call("health")["result"]
    assert h["contract_version"] == CONTRACT_VERSION
    assert h["kernel"] == "color"
    assert h["device"] == "cpu"
    assert h["busy"] is False and h["task_id"] is None
    assert h["kernel_state"] == "ready"
    assert "euler" in h["samplers"] and h["pid"] > 0


def test_generate_returns_images_with_seeds_and_progress(worker):
    res = worker.call("generate", task(seeds=[5, 6, 7], steps=3))["result"]
    assert [(i["index"], i["seed"]) for i in res["images"]] == [(0, 5), (1, 6), (2, 7)]
    for image in res["images"]:
        img = Image.open(io.BytesIO(base64.b64decode(image["data"])))
        assert img.format == "PNG" and img.size == (64, 64)
    assert res["stopped"] is False and res["skipped"] == []
    assert res["timings"]["total"] >= res["timings"]["sampling"] > 0
    steps = [
        (p["image_index"], p["step"]) for p in worker.progress("t1") if p["stage"] == "sampling" and p["step"]
    ]
    assert steps == [(i, s) for i in range(3) for s in (1, 2, 3)]
    assert worker.call("health")["result"]["loaded_models"] == ["m"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"width": 63}, "width"),
        ({"seeds": []}, "seeds"),
        ({"steps": 0}, "steps"),
        ({"sampler": "nope"}, "sampler"),
        ({"colour": "red"}, "colour"),
        ({"base_model": {"name": "m"}}, "base_model.path"),
    ],
)
def test_bad_params_name_the_field(worker, change, field):
    err = worker.call("generate", task(**change))["error"]
    assert err["code"] == rpc.INVALID_PARAMS
    assert err["data"]["kind"] == "bad_request"
    assert err["data"]["field"] == field and field.split(".")[-1] in err["message"]
    assert worker.call("health")["result"]["busy"] is False


def test_missing_params_name_the_first_missing_field(worker):
    err = worker.call("generate")["error"]
    assert err["code"] == rpc.INVALID_PARAMS and err["data"]["field"] == "task_id"


def test_version_mismatch_names_both_versions(worker):
    err = worker.call("generate", task(contract_version=CONTRACT_VERSION + 1))["error"]
    assert err["code"] == rpc.VERSION_MISMATCH
    assert str(CONTRACT_VERSION) in err["message"] and str(CONTRACT_VERSION + 1) in err["message"]


def test_framing_errors_keep_the_worker_serving(worker):
    worker.raw(b"{not json")
    worker.raw(b"[1, 2]")
    worker.raw(b'{"jsonrpc": "1.0", "id": 9, "method": "health"}')
    err_parse, err_array, err_version = worker.out.frames[-3:]
    assert err_parse["error"]["code"] == rpc.PARSE_ERROR and err_parse["id"] is None
    assert err_array["error"]["code"] == rpc.INVALID_REQUEST
    assert err_version["error"]["code"] == rpc.INVALID_REQUEST and err_version["id"] == 9
    assert worker.call("no_such_method")["error"]["code"] == rpc.METHOD_NOT_FOUND
    assert worker.call("stop", {"task_id": "x", "mode": "pause"})["error"]["data"]["field"] == "mode"
    assert worker.call("health")["result"]["contract_version"] == CONTRACT_VERSION


def test_second_generate_while_busy_is_refused_at_once(worker, monkeypatch):
    monkeypatch.setenv("REMGO_TEST_STEP_DELAY", "0.05")
    first = worker.send("generate", task("a", steps=10, seeds=[1]))
    worker.wait_progress("a", lambda p: p["step"] >= 1)
    busy = worker.call("generate", task("b"), timeout=2)["error"]
    assert busy["code"] == rpc.BUSY and "a" in busy["message"]
    assert worker.call("health")["result"]["task_id"] == "a"
    assert len(worker.wait(first)["result"]["images"]) == 1
    # Idle again as soon as the answer is out.
    assert worker.call("generate", task("c", seeds=[1], steps=1))["result"]["images"]


def test_stop_returns_the_finished_images_marked(worker, monkeypatch):
    monkeypatch.setenv("REMGO_TEST_STEP_DELAY", "0.02")
    rid = worker.send("generate", task("s", steps=8, seeds=[1, 2, 3]))
    worker.wait_progress("s", lambda p: p["image_index"] == 1 and p["step"] >= 2)
    assert worker.call("stop", {"task_id": "s", "mode": "stop"})["result"] == {"ok": True, "task_id": "s"}
    res = worker.wait(rid)["result"]
    assert res["stopped"] is True
    assert [i["index"] for i in res["images"]] == [0]


def test_skip_drops_the_current_image_only(worker, monkeypatch):
    monkeypatch.setenv("REMGO_TEST_STEP_DELAY", "0.02")
    rid = worker.send("generate", task("k", steps=8, seeds=[1, 2, 3]))
    worker.wait_progress("k", lambda p: p["image_index"] == 0 and p["step"] >= 2)
    worker.call("stop", {"task_id": "k", "mode": "skip"})
    res = worker.wait(rid)["result"]
    assert res["stopped"] is False and res["skipped"] == [0]
    assert [i["index"] for i in res["images"]] == [1, 2]


def test_stop_of_unknown_task_is_a_clear_error(worker):
    err = worker.call("stop", {"task_id": "ghost"})["error"]
    assert err["code"] == rpc.UNKNOWN_TASK and "ghost" in err["message"]
    assert worker.call("health")["result"]["busy"] is False


def test_progress_request_returns_latest_snapshot(worker):
    assert worker.call("progress", {})["result"] is None
    worker.call("generate", task("p", seeds=[1], steps=2))
    latest = worker.call("progress", {"task_id": "p"})["result"]
    assert latest["task_id"] == "p" and latest["step"] == 2 and latest["stage"] == "saving"
    assert worker.call("progress", {"task_id": "other"})["result"] is None


def test_kernel_exception_becomes_an_error_and_worker_lives():
    worker = Harness("RaisingKernel")
    for tid in ("r1", "r2"):
        err = worker.call("generate", task(tid))["error"]
        assert err["code"] == rpc.GENERATION_FAILED
        assert "kernel exploded" in err["message"] and err["data"]["task_id"] == tid
    assert worker.call("health")["result"]["busy"] is False


def test_a_failure_after_some_images_keeps_them_as_partial(monkeypatch):
    monkeypatch.setenv("REMGO_TEST_FAIL_FROM_IMAGE", "1")
    worker = Harness("RaisingKernel")
    err = worker.call("generate", task(seeds=[4, 5, 6]))["error"]
    assert err["code"] == rpc.GENERATION_FAILED
    partial = err["data"]["partial"]
    assert [(i["index"], i["seed"]) for i in partial["images"]] == [(0, 4)]


def test_out_of_memory_gets_its_own_code_after_freeing():
    worker = Harness("OomKernel")
    err = worker.call("generate", task())["error"]
    assert err["code"] == rpc.OUT_OF_MEMORY and err["data"]["kind"] == "out_of_memory"
    assert worker.server._kernel.freed == 1


def test_model_paths_outside_the_roots_are_refused(tmp_path):
    worker = Harness(model_roots=(str(tmp_path),))
    err = worker.call("generate", task(base_model={"name": "x", "path": "/etc/passwd"}))["error"]
    assert err["code"] == rpc.UNKNOWN_MODEL and err["data"]["field"] == "base_model.path"
    lora = {"name": "l", "path": str(tmp_path / ".." / "escape.safetensors")}
    inside = {"name": "m", "path": str(tmp_path / "m.safetensors")}
    err = worker.call("generate", task(base_model=inside, loras=[lora]))["error"]
    assert err["data"]["field"] == "loras[0].path"
    assert worker.call("generate", task(base_model=inside))["result"]["images"]
    # A link placed inside a root is the owner's choice and is followed.
    (tmp_path / "linked.safetensors").symlink_to("/elsewhere/model.safetensors")
    linked = {"name": "l", "path": str(tmp_path / "linked.safetensors")}
    assert worker.call("generate", task(base_model=linked))["result"]["images"]
    err = worker.call("generate", task(base_model={"name": "r", "path": "relative.safetensors"}))["error"]
    assert err["code"] == rpc.INVALID_PARAMS and "absolute" in err["message"]
    # `..` is refused even when it would stay inside: through a linked folder it need not.
    (tmp_path / "sub").mkdir()
    dotted = {"name": "d", "path": str(tmp_path / "sub" / ".." / "m.safetensors")}
    err = worker.call("generate", task(base_model=dotted))["error"]
    assert err["code"] == rpc.INVALID_PARAMS and "'..'" in err["message"]


def test_a_root_given_through_a_link_accepts_paths_under_its_real_path(tmp_path):
    real = tmp_path / "disk" / "models"
    real.mkdir(parents=True)
    (tmp_path / "models").symlink_to(real)
    worker = Harness(model_roots=(str(tmp_path / "models"),))
    for path in (real / "m.safetensors", tmp_path / "models" / "m.safetensors"):
        assert worker.call("generate", task(base_model={"name": "m", "path": str(path)}))["result"]["images"]


def test_a_kernel_that_cannot_load_is_reported():
    worker = Harness("no_such_module_anywhere:Kernel")
    health = worker.call("health")["result"]
    assert health["kernel_state"] == "failed" and "no_such_module_anywhere" in health["kernel_error"]
    err = worker.call("generate", task())["error"]
    assert err["code"] == rpc.GENERATION_FAILED and "failed to load" in err["message"]


def test_shutdown_acknowledges_and_ends_the_loop(worker):
    rid = worker.send("shutdown")
    assert worker.wait(rid)["result"]["ok"] is True
    assert worker.server.handle_line(b'{"jsonrpc":"2.0","id":5,"method":"shutdown"}') == "shutdown"
