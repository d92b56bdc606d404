"""Bad input to the compatibility routes: a clear 4xx whose `error` text names the field."""

import json

import pytest

from bench.harness.in_process import running
from tests.orchestrator.compat.remgo.frontend import compat_settings, default_body

pytestmark = pytest.mark.anyio


async def test_generate_refuses_with_remgo_error_shape(tmp_path) -> None:
    async with running(compat_settings(tmp_path), ready=False) as srv:
        cases = [
            (default_body(image_number=0), 422, "$.image_number", "image_number: must be between 1 and 32, got 0"),
            (default_body(guidance_scle=3), 422, "$.guidance_scle",
             "guidance_scle: unknown field `guidance_scle` (did you mean guidance_scale?)"),
            (default_body(performance_selection="speed"), 422, "$.performance_selection",
             "performance_selection: 'speed' is not one of Quality, Speed, Extreme Speed, Lightning, Hyper-SD "
             "(did you mean Speed?)"),
            (default_body(controlnet_softness=2), 422, "$.controlnet_softness",
             "controlnet_softness: must be between 0 and 1, got 2"),
            (default_body(base_model_name="nope.safetensors"), 422, "$.base_model_name",
             "base_model_name: no checkpoint named 'nope.safetensors'"),
            (default_body(loras=[[True, "missing.safetensors", 1]]), 422, "$.loras[0][1]", "loras[0][1]: no LoRA"),
            (default_body(aspect_ratios_selection="huge"), 422, "$.aspect_ratios_selection",
             "aspect_ratios_selection: 'huge'"),
            (b"", 422, "$", "the body is empty"),
            (b"[1, 2]", 422, "$", "must be an object, got an array"),
            (b"{", 422, "$", "not valid JSON"),
        ]
        for body, status, field, start in cases:
            r = await srv.client.post("/generate", content=body)
            answer = r.json()
            assert r.status_code == status, (body, answer)
            assert answer["status"] == "Error" and answer["task_id"] and answer["field"] == field, answer
            assert isinstance(answer["error"], str) and answer["error"].startswith(start), answer
            assert (await srv.client.get(f"/status/{answer['task_id']}")).status_code == 404  # no job was made
        near = (await srv.client.post("/generate", content=default_body(guidance_scle=3))).json()
        assert "guidance_scale" in near["suggestions"]
        refused = await srv.client.post("/generate?priority=3", content=default_body())
        assert refused.status_code == 422 and refused.json()["field"] == "priority"
        assert (await srv.client.get("/v1/jobs")).json()["jobs"] == []


async def test_lookups_and_stop_refuse_clearly(tmp_path) -> None:
    async with running(compat_settings(tmp_path), ready=False) as srv:
        r = await srv.client.get("/status/nothing-here")
        assert r.status_code == 404 and r.json() == {"error": "no task with id 'nothing-here'", "field": "task_id"}
        r = await srv.client.get("/presets/nope")
        assert r.status_code == 404 and r.json()["field"] == "name" and "nope" in r.json()["error"]
        assert "default" in (await srv.client.get("/presets/defualt")).json()["suggestions"]
        for bad in ("a b", "ä", "x%3By"):
            r = await srv.client.get(f"/presets/{bad}")
            assert r.status_code == 400 and r.json()["field"] == "name", bad
        r = await srv.client.post("/stop", content=b'{"task_id": "x"}')
        assert r.status_code == 400 and "no body" in r.json()["error"]
        r = await srv.client.post("/stop")
        assert r.status_code == 200 and r.json() == {"status": "Stop requested", "stopped": []}
        assert (await srv.client.get("/settings?verbose=1")).json()["field"] == "verbose"


async def test_config_editor_refusals_leave_the_file_alone(tmp_path) -> None:
    settings = compat_settings(tmp_path)
    path = tmp_path / "remgo.toml"
    path.write_text("# mine\nport = 9000\n")
    async with running(settings, ready=False) as srv:
        cases = [
            ({"values": {"prot": 1}}, "prot", "prot: unknown setting; editable: port, devices"),
            ({"values": {"api_keys": ["k"]}}, "api_keys", "api_keys: not editable here"),
            ({"values": {"worker_cmd": ["sh"]}}, "worker_cmd", "worker_cmd: not editable here"),
            ({"values": {"port": "80"}}, "port", "port: expected number, got string"),
            ({"values": {"port": 80.5}}, "port", "port: expected a whole number"),
            ({"values": {"port": None}}, "port", "port: expected number, got null"),
            ({"values": {"port": 70000}}, "port", "port: Expected `int` <= 65535"),
            ({"values": {"devices": ["gpu7"]}}, "devices", "devices: 'gpu7' is not cpu, auto"),
            ({"values": {"preview_enabled": 1}}, "preview_enabled", "preview_enabled: expected boolean, got number"),
            ({"values": []}, "values", "the body must be"),
            ({"valeus": {}}, "values", "the body must be"),
        ]
        for body, field, start in cases:
            r = await srv.client.post("/config/editor", content=json.dumps(body))
            answer = r.json()
            assert r.status_code == 400 and answer["success"] is False, answer
            assert answer["field"] == field and answer["error"].startswith(start), answer
        # What decides who can reach the server, or which files it serves, is shown but never written here;
        # sent back unchanged (an editor sends every field) it is accepted.
        for key, value in (("host", "0.0.0.0"), ("outputs_dir", "/"), ("cors_origins", ["*"]),
                           ("allowed_hosts", ["*"]), ("model_roots", ["/"]), ("state_dir", "/tmp/x"),
                           ("webhook_allow_private", True)):
            r = await srv.client.post("/config/editor", json={"values": {key: value}})
            answer = r.json()
            assert r.status_code == 403 and answer["field"] == key and "read-only here" in answer["error"], answer
            assert str(path) in answer["error"]
        shown = {f["key"]: f for f in (await srv.client.get("/config/editor")).json()["fields"]}
        assert shown["host"]["read_only"] is True and "remgo serve --host" in shown["host"]["note"]
        everything = {key: field["current_value"] for key, field in shown.items()}
        r = await srv.client.post("/config/editor", json={"values": everything})
        assert r.status_code == 200 and r.json()["updated_keys"] == [], r.text
        assert path.read_text() == "# mine\nport = 9000\n"
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".remgo.toml")] == []  # no temp left

        path.write_text("port = [")
        r = await srv.client.get("/config/editor")
        assert r.status_code == 409 and "cannot be read as TOML" in r.json()["error"]


async def test_a_full_queue_is_an_error_with_retry_after(tmp_path) -> None:
    settings = compat_settings(tmp_path, kernel="SlowStartKernel", queue_limit=1)
    settings.worker_env["REMGO_TEST_KERNEL_INIT_DELAY"] = "20"  # nothing leaves the queue meanwhile
    async with running(settings, ready=False) as srv:
        assert (await srv.client.post("/generate", content=default_body())).json()["status"] == "Started"
        r = await srv.client.post("/generate", content=default_body())
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        assert r.json()["status"] == "Error" and "queue holds its limit of 1" in r.json()["error"]
