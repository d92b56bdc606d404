"""The body a job keeps (its `request`, shown by GET /v1/jobs/{id}) without the megabytes of inline images.

An inline image (base64 or a data URI) is in the input store once the request is resolved; the kept body
names it `{"upload_id": sha256}` instead, every other value as the client sent it. A body without inline
images is kept byte for byte.
"""

from __future__ import annotations

from typing import Any

import msgspec

from contract.request import GenerateRequest
from orchestrator.common.input_image import ResolvedImage


def without_inline_images(body: bytes, request: GenerateRequest, resolved: dict[str, ResolvedImage]) -> bytes:
    """`body`, as decoded into `request`, with each inline image of `resolved` replaced by its upload id."""
    replaced = {}
    for name, found in resolved.items():
        given = _given(request, name)
        if isinstance(given, str):
            replaced[given] = found.sha256
    if not replaced:
        return body
    return msgspec.json.encode(_swap(msgspec.json.decode(body), replaced))


def _given(request: GenerateRequest, name: str) -> Any:
    """The value of an image field as the client sent it; `image_prompts[i].image` for a prompt's image."""
    if name.startswith("image_prompts["):
        return request.image_prompts[int(name[len("image_prompts["):name.index("]")])].image
    return getattr(request, name)


def _swap(value: Any, replaced: dict[str, str]) -> Any:
    # Found by value, not by key: a face whose body is shaped otherwise (positional, nested) is covered too.
    if isinstance(value, str):
        return {"upload_id": replaced[value]} if value in replaced else value
    if isinstance(value, dict):
        return {k: _swap(v, replaced) for k, v in value.items()}
    if isinstance(value, list):
        return [_swap(v, replaced) for v in value]
    return value
