"""How an image's image prompts (common/image_params.PromptUse: type, stop, weight, the image's sha256) are
written into its metadata text and read back. Fooocus logs none of them: the keys are remgo's, one list in
each scheme (`image_prompts` in the fooocus scheme, `Image prompts` as quoted JSON in the a1111 scheme). An
image made without image prompts carries neither key."""

from __future__ import annotations

import json
from typing import Any

import msgspec

from orchestrator.common.image_params import PromptUse

FOOOCUS_KEY = "image_prompts"
A1111_LABEL = "Image prompts"
# PromptUse field → the key written (the image hash named as the input image's is, `input_image_hash`)
_KEYS = {"type": "type", "stop": "stop", "weight": "weight", "image_sha256": "image_hash", "history_id": "history_id"}


def _entry(use: PromptUse) -> dict[str, Any]:
    return {_KEYS[f]: v for f, v in msgspec.structs.asdict(use).items() if v is not None}


def fooocus_fields(uses: list[PromptUse]) -> dict[str, Any]:
    """The fooocus-scheme key (also what the history shows); empty without image prompts."""
    return {FOOOCUS_KEY: [_entry(u) for u in uses]} if uses else {}


def a1111_entries(uses: list[PromptUse]) -> list[tuple[str, Any]]:
    return [(A1111_LABEL, json.dumps([_entry(u) for u in uses]))] if uses else []


def _read(value: Any) -> list[PromptUse]:
    if value is None:
        return []
    items = json.loads(value) if isinstance(value, str) else value
    if not isinstance(items, list):
        raise ValueError(f"{FOOOCUS_KEY} must be a list")
    back = {key: field for field, key in _KEYS.items()}
    if not all(isinstance(item, dict) for item in items):
        raise TypeError(f"each of {FOOOCUS_KEY} must be an object")
    return [msgspec.convert({back[k]: v for k, v in item.items() if k in back}, PromptUse, strict=False)
            for item in items]


def from_fooocus(data: dict[str, Any]) -> list[PromptUse]:
    """Raises (TypeError, ValueError, msgspec.ValidationError) on a malformed value: the caller's parse fails."""
    return _read(data.get(FOOOCUS_KEY))


def from_a1111(values: dict[str, str]) -> list[PromptUse]:
    return _read(values.get(A1111_LABEL))
