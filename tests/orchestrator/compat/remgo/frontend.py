"""What RemGo's web frontend sends and expects, byte for byte, and a checker for its `/ws` messages.

The generate body is the frontend's store defaults serialized the way a browser's JSON.stringify writes
them (4.0 becomes 4), with a prompt typed in.
"""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

from bench.harness.settings import make_catalog, server_settings
from orchestrator.settings import Settings

FRONTEND_ORIGIN = "http://localhost:5173"  # the frontend's dev server
WS_KEYS = ("type", "task_id", "percentage", "statusText", "finished", "results", "preview")
STATUS_KEYS = ("percentage", "statusText", "results", "finished", "preview")
LORA = "detail-tweaker.safetensors"


def default_body(prompt: str = "a lighthouse on a cliff", **changes: Any) -> bytes:
    """The body of the frontend's `POST /generate` with its default settings."""
    body = {
        "prompt": prompt, "negative_prompt": "", "style_selections": [], "performance_selection": "Speed",
        "aspect_ratios_selection": "1152×896", "image_number": 1, "image_seed": -1, "seed_random": True,
        "guidance_scale": 4, "image_sharpness": 2, "base_model_name": "Default", "refiner_model_name": "None",
        "refiner_switch": 0.5, "sampler_name": "dpmpp_2m_sde_gpu", "scheduler_name": "karras",
        "vae_name": "Default (model)", "output_format": "png", "clip_skip": 2, "adaptive_cfg": 7,
        "overwrite_step": -1, "overwrite_switch": -1, "overwrite_width": -1, "overwrite_height": -1,
        "disable_seed_increment": False, "adm_scaler_positive": 1.5, "adm_scaler_negative": 0.8,
        "adm_scaler_end": 0.3, "refiner_swap_method": "joint", "controlnet_softness": 0.25, "freeu_enabled": False,
        "freeu_b1": 1.1, "freeu_b2": 1.2, "freeu_s1": 0.9, "freeu_s2": 0.2, "save_metadata_to_images": False,
        "metadata_scheme": "fooocus", "loras": [],
    }
    body.update(changes)
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def compat_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Server settings for these tests: a catalog with one placeholder LoRA, the settings file in tmp."""
    catalog = make_catalog(tmp_path)
    lora = catalog / "models" / "loras" / LORA
    lora.parent.mkdir(parents=True, exist_ok=True)
    lora.write_bytes(b"placeholder")
    overrides.setdefault("config_file", str(tmp_path / "remgo.toml"))
    return server_settings(tmp_path, **overrides)


def check_ws_message(text: str | bytes) -> dict[str, Any]:
    """One `/ws` message, checked against RemGo's exact shape; returns it decoded."""
    assert isinstance(text, str), "a text frame (the frontend JSON.parses event.data)"
    message = json.loads(text)
    assert sorted(message) == sorted(WS_KEYS), message
    assert message["type"] == "progress"
    assert isinstance(message["task_id"], str) and message["task_id"]
    _check_progress_fields(message)
    return message


def check_status(status: dict[str, Any]) -> dict[str, Any]:
    assert sorted(status) == sorted(STATUS_KEYS), status
    _check_progress_fields(status)
    return status


def _check_progress_fields(message: dict[str, Any]) -> None:
    assert isinstance(message["percentage"], int) and not isinstance(message["percentage"], bool)
    assert 0 <= message["percentage"] <= 100
    assert isinstance(message["statusText"], str) and message["statusText"]
    assert isinstance(message["finished"], bool)
    assert isinstance(message["results"], list)
    for path in message["results"]:
        assert isinstance(path, str) and path and not path.startswith("/") and ".." not in path.split("/")
    preview = message["preview"]
    if preview is not None:
        assert isinstance(preview, str) and not preview.startswith("data:")
        assert base64.b64decode(preview, validate=True)[:3] == b"\xff\xd8\xff"  # a JPEG
    if message["finished"]:
        assert message["preview"] is None and message["percentage"] == 100


async def messages_until_finished(ws, task_ids: set[str], timeout: float = 60.0) -> dict[str, list[dict]]:
    """Every message for `task_ids` (checked) until each has finished; other jobs' messages are checked too."""
    by_task: dict[str, list[dict]] = {}
    pending = set(task_ids)
    while pending:
        message = check_ws_message(await asyncio.wait_for(ws.recv(), timeout))
        by_task.setdefault(message["task_id"], []).append(message)
        if message["finished"]:
            pending.discard(message["task_id"])
    return by_task
