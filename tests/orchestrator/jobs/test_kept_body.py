"""The body a job keeps: inline images replaced by their upload ids, everything else as sent."""

from __future__ import annotations

import json

import msgspec

from contract.request import GenerateRequest
from orchestrator.common.input_image import ResolvedImage
from orchestrator.jobs.kept_body import without_inline_images

SHA = "5" * 64
INLINE = "iVBORw0KGgo" + "A" * 4000


def _found(sha: str = SHA) -> ResolvedImage:
    return ResolvedImage(sha256=sha, width=8, height=8, format="png", nbytes=3000)


def test_an_inline_image_becomes_its_upload_id() -> None:
    sent = {"prompt": "a fox", "uov_method": "Vary (Subtle)", "uov_input_image": INLINE, "image_seed": 7,
            "guidance_scale": 4.5, "loras": [{"name": "x", "weight": 0.5}]}
    body = json.dumps(sent).encode()
    kept = without_inline_images(body, msgspec.json.decode(body, type=GenerateRequest), {"uov_input_image": _found()})
    assert json.loads(kept) == {**sent, "uov_input_image": {"upload_id": SHA}}
    assert INLINE.encode() not in kept


def test_a_body_without_inline_images_is_kept_byte_for_byte() -> None:
    body = b'{ "prompt" : "a fox",\n  "uov_input_image": {"upload_id": "' + SHA.encode() + b'"} }'
    request = msgspec.json.decode(body, type=GenerateRequest)
    assert without_inline_images(body, request, {"uov_input_image": _found()}) is body
    assert without_inline_images(body, request, {}) is body
