"""One session of RemGo's web frontend, replayed request by request against the real app and a real worker."""

import io
import json
import time

import pytest
import websockets
from PIL import Image

from bench.harness.in_process import running
from orchestrator.settings import load_settings
from tests.orchestrator.compat.remgo.frontend import (
    FRONTEND_ORIGIN,
    LORA,
    check_status,
    compat_settings,
    default_body,
    messages_until_finished,
)

pytestmark = pytest.mark.anyio
BROWSER = {"Origin": FRONTEND_ORIGIN}
STRING_LISTS = ("models", "loras", "aspect_ratios", "performance_options", "styles", "presets", "vaes", "samplers",
                "schedulers", "output_formats", "refiner_swap_methods", "metadata_schemes")


async def test_page_load_generate_watch_and_view(tmp_path) -> None:
    async with running(compat_settings(tmp_path)) as srv:
        # Page load: the settings, then the socket (opened once, never written to).
        r = await srv.client.get("/settings", headers=BROWSER)
        assert r.status_code == 200 and r.headers["access-control-allow-origin"] == FRONTEND_ORIGIN
        options = r.json()
        for key in STRING_LISTS:
            assert isinstance(options[key], list) and all(isinstance(v, str) for v in options[key]), key
        assert options["models"] == ["tiny.safetensors"] and options["loras"] == [LORA]
        assert options["vaes"][0] == "Default (model)"
        assert "1152×896" in options["aspect_ratios"] and "1152*896" not in options["aspect_ratios"]
        assert {"Fooocus V2", "Random Style", "Remgo Enhance", "Remgo Sharp"} <= set(options["styles"])
        assert options["performance_options"][:2] == ["Quality", "Speed"] and "default" in options["presets"]
        assert "dpmpp_2m_sde_gpu" in options["samplers"] and "karras" in options["schedulers"]
        assert (options["clip_skip_max"], options["default_lora_count"], options["max_image_number"]) == (12, 5, 32)

        async with websockets.connect(f"{srv.ws_url}/ws", origin=FRONTEND_ORIGIN) as ws:
            # The JSON body makes the browser ask first (a preflight), then post.
            pre = await srv.client.options("/generate", headers={
                **BROWSER, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"})
            assert pre.status_code == 200 and pre.headers["access-control-allow-origin"] == FRONTEND_ORIGIN
            started = time.time()
            r = await srv.client.post("/generate", content=default_body(),
                                      headers={**BROWSER, "Content-Type": "application/json"})
            assert r.status_code == 200, r.text
            answer = r.json()
            assert answer["status"] == "Started" and answer["total_images"] == 1
            task_id = answer["task_id"]

            messages = (await messages_until_finished(ws, {task_id}))[task_id]
        percentages = [m["percentage"] for m in messages]
        assert percentages == sorted(percentages) and percentages[0] == 0 and percentages[-1] == 100
        assert any(m["preview"] for m in messages)  # live previews while sampling
        assert any(m["statusText"].startswith("Sampling step 30/30") for m in messages)
        last = messages[-1]
        assert last["finished"] and last["preview"] is None and len(last["results"]) == 1
        assert [m for m in messages if m["finished"]] == [last]
        assert last["statusText"] == "Finished (1/1 images)"

        status = check_status((await srv.client.get(f"/status/{task_id}", headers=BROWSER)).json())
        assert status["finished"] and status["results"] == last["results"]

        # The result as the frontend shows it: /images/<path from results>.
        r = await srv.client.get(f"/images/{last['results'][0]}", headers=BROWSER)
        assert r.status_code == 200 and r.headers["content-type"] == "image/png"
        assert Image.open(io.BytesIO(r.content)).size == (1152, 896)

        # It is an ordinary job: the same job service as POST /v1/jobs, defaults resolved by the normalizer.
        job = (await srv.client.get(f"/v1/jobs/{task_id}")).json()
        assert job["status"] == "succeeded" and job["request_format"] == "remgo"
        params = job["normalized"]["images"][0]
        assert params["base_model"] == "tiny.safetensors"  # "Default": the preset's model is absent here
        assert (params["width"], params["height"], params["steps"], params["sharpness"]) == (1152, 896, 30, 2.0)
        assert any("controlnet_softness" in w for w in job["warnings"])
        assert json.loads(default_body()) == job["request"]  # the body as the frontend sent it

        # History tab, then the viewer's metadata panel ("reuse these settings" reads these keys).
        page = (await srv.client.get("/history", headers=BROWSER)).json()
        assert page["total"] == 1 and page["items"][0]["path"] == last["results"][0]
        item = page["items"][0]
        assert item["filename"] == last["results"][0].split("/")[-1]
        assert started - 2 <= item["created"] <= time.time() + 1
        meta = item["metadata"]
        assert meta["prompt"] == "a lighthouse on a cliff" and meta["resolution"] == "(1152, 896)"
        assert meta["seed"] == str(params["seed"]) and meta["styles"] == "[]" and meta["performance"] == "Speed"
        assert (meta["base_model"], meta["vae"], meta["sampler"]) == ("tiny.safetensors", "Default (model)",
                                                                      "dpmpp_2m_sde_gpu")


async def test_preset_and_config_editor(tmp_path) -> None:
    settings = compat_settings(tmp_path)
    async with running(settings, ready=False) as srv:
        # Choosing a preset: the frontend maps the file's Fooocus keys itself; what this install lacks (the
        # Juggernaut checkpoint, the offset LoRA, Fooocus's styles) is replaced, as the frontend sends it back.
        preset = (await srv.client.get("/presets/default", headers=BROWSER)).json()
        assert preset["default_model"] == "tiny.safetensors"
        assert preset["default_aspect_ratio"] == "1152*896" and preset["default_cfg_scale"] == 4.0
        assert preset["default_loras"] == [[True, "None", 1.0]] and preset["default_styles"] == []

        # Config tab: load the fields, change one, save every value (the frontend sends them all).
        editor = (await srv.client.get("/config/editor", headers=BROWSER)).json()
        assert editor["config_path"] == settings.config_file and editor["restart_required"] is True
        fields = {f["key"]: f for f in editor["fields"]}
        assert fields["port"] == {"key": "port", "type": "number", "default_value": 8888,
                                  "current_value": settings.port}
        assert fields["devices"]["type"] == "array" and fields["preview_enabled"]["type"] == "boolean"
        assert "api_keys" not in fields and "worker_cmd" not in fields
        values = {key: f["current_value"] for key, f in fields.items()}
        values["queue_limit"] = 50
        r = await srv.client.post("/config/editor", json={"values": values}, headers=BROWSER)
        assert r.status_code == 200, r.text
        assert r.json() == {"success": True, "updated_keys": ["queue_limit"], "config_path": settings.config_file,
                            "restart_required": True}
        assert load_settings(settings.config_file, env={}).queue_limit == 50
        again = (await srv.client.get("/config/editor")).json()
        assert {f["key"]: f["current_value"] for f in again["fields"]}["queue_limit"] == 50
        assert srv.services.settings.queue_limit == 1000  # applied at the next start, not now

        r = await srv.client.post("/config/editor", json={"values": {"queue_limit": "many"}}, headers=BROWSER)
        assert r.status_code == 400 and r.json()["success"] is False
        assert r.json()["error"] == "queue_limit: expected number, got string"
