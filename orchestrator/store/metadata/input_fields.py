"""How an image's input (Vary, Upscale, Inpaint, Outpaint: common/image_params.InputUse) is written into its
metadata text and read back. Fooocus itself logs none of it; A1111's own keys are `Denoising strength` and
those of its inpainting steps (`Mask blur`, `Inpaint area`, `Masked area padding`, `Masked content`), the
others are remgo's, named in each scheme's style. A text-to-image image carries none of these keys."""

from __future__ import annotations

import json
from typing import Any

import msgspec

from orchestrator.common.image_params import InputUse

# InputUse field → (fooocus-scheme key, a1111-scheme label)
KEYS: dict[str, tuple[str, str]] = {
    "method": ("input_method", "Input method"),
    "denoise": ("denoising_strength", "Denoising strength"),
    "image_sha256": ("input_image_hash", "Input image hash"),
    "history_id": ("input_history_id", "Input history id"),
    "upscale_factor": ("upscale_factor", "Upscale factor"),
    "upscaler": ("upscaler", "Upscaler"),
    "mask_sha256": ("mask_hash", "Mask hash"),
    "outpaint": ("outpaint_selections", "Outpaint"),
    "respective_field": ("inpaint_respective_field", "Inpaint respective field"),
    "erode_or_dilate": ("inpaint_erode_or_dilate", "Mask erode or dilate"),
    "invert_mask": ("invert_mask", "Invert mask"),
    "inpaint_engine": ("inpaint_engine", "Inpaint engine"),
    # AUTOMATIC1111's own infotext keys for its inpainting steps
    "mask_blur": ("inpaint_mask_blur", "Mask blur"),
    "inpaint_area": ("inpaint_area", "Inpaint area"),
    "masked_area_padding": ("inpaint_masked_area_padding", "Masked area padding"),
    "masked_content": ("inpaint_masked_content", "Masked content"),
}


def _given(use: InputUse) -> dict[str, Any]:
    return {f: v for f, v in msgspec.structs.asdict(use).items() if v is not None and v != []}


def fooocus_fields(use: InputUse | None) -> dict[str, Any]:
    """The fooocus-scheme keys (also what the history shows and searches); empty for text to image."""
    if use is None:
        return {}
    out = {KEYS[f][0]: v for f, v in _given(use).items()}
    if "outpaint_selections" in out:
        out["outpaint_selections"] = str(out["outpaint_selections"])  # Fooocus logs lists as Python text
    return out


def a1111_entries(use: InputUse | None) -> list[tuple[str, Any]]:
    if use is None:
        return []
    return [(KEYS[f][1], json.dumps(v) if isinstance(v, list) else v) for f, v in _given(use).items()]


def _read(values: dict[str, Any], column: int) -> InputUse | None:
    found = {f: values[keys[column]] for f, keys in KEYS.items() if keys[column] in values}
    if "method" not in found:
        return None
    if isinstance(found.get("outpaint"), str):
        text = found["outpaint"].replace("'", '"')
        found["outpaint"] = json.loads(text)
    found.setdefault("denoise", None)
    for name in ("invert_mask",):
        if isinstance(found.get(name), str):
            found[name] = found[name] == "True" or found[name] == "true"
    return msgspec.convert(found, InputUse, strict=False)


def from_fooocus(data: dict[str, Any]) -> InputUse | None:
    """Raises (TypeError, ValueError, msgspec.ValidationError) on a malformed value: the caller's parse fails."""
    return _read(data, 0)


def from_a1111(values: dict[str, str]) -> InputUse | None:
    return _read(values, 1)
