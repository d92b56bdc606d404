"""Presets in Fooocus's JSON format (`default_model`, `default_cfg_scale`, …), applied server-side.

A preset becomes a partial GenerateRequest: a request field left out takes the preset's value. Keys
that are GenerateRequest field names (`adaptive_cfg`, `freeu_enabled`, …) are accepted as well. Keys
remgo has no use for (downloads, UI switches) are kept out with a note, never silently.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec

from contract.request import GenerateRequest, LoraEntry

# Fooocus preset key → GenerateRequest field.
FOOOCUS_KEYS: dict[str, str] = {
    "default_model": "base_model_name",
    "default_refiner": "refiner_model_name",
    "default_refiner_switch": "refiner_switch",
    "default_loras": "loras",
    "default_cfg_scale": "guidance_scale",
    "default_sample_sharpness": "image_sharpness",
    "default_cfg_tsnr": "adaptive_cfg",
    "default_clip_skip": "clip_skip",
    "default_sampler": "sampler_name",
    "default_scheduler": "scheduler_name",
    "default_performance": "performance_selection",
    "default_image_number": "image_number",
    "default_prompt": "prompt",
    "default_prompt_negative": "negative_prompt",
    "default_styles": "style_selections",
    "default_aspect_ratio": "aspect_ratios_selection",
    "default_vae": "vae_name",
    "default_overwrite_step": "overwrite_step",
    "default_output_format": "output_format",
    "default_save_metadata_to_images": "save_metadata_to_images",
    "default_metadata_scheme": "metadata_scheme",
}
DOWNLOAD_KEYS = frozenset({"checkpoint_downloads", "lora_downloads", "embeddings_downloads", "vae_downloads"})
_REQUEST_FIELDS = frozenset(GenerateRequest.__struct_fields__) - {"preset"}


class Preset(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    source: str
    values: GenerateRequest  # fields the preset sets; None (or "" for prompt) = not set
    previous_default_models: list[str] = []
    # Fooocus's `default_overwrite_switch` is a step number; it becomes a fraction once steps are known.
    overwrite_switch_step: int | None = None
    notes: list[str] = []
    raw: dict[str, Any] = {}
    # What `values` changed from the file to fit this install (preset_fit.py); `raw` stays the file's.
    adjustments: list[str] = []
    fitted_raw: dict[str, Any] | None = None  # the file's keys with those changes, for RemGo's frontend

    def public(self) -> dict:
        return {
            "name": self.name,
            "source": self.source,
            "values": msgspec.to_builtins(self.values),
            "previous_default_models": self.previous_default_models,
            "overwrite_switch_step": self.overwrite_switch_step,
            "notes": self.notes,
            "adjustments": self.adjustments,
            "raw": self.raw,
        }


def _loras(value: Any) -> list[LoraEntry]:
    """Fooocus's `[enabled, name, weight]` or older `[name, weight]` rows; "None" rows are empty slots."""
    if not isinstance(value, list):
        raise ValueError("must be a list of [enabled, name, weight] rows")
    out = []
    for i, row in enumerate(value):
        if isinstance(row, list) and len(row) == 2:
            row = [True, *row]
        if not (isinstance(row, list) and len(row) == 3 and isinstance(row[0], bool) and isinstance(row[1], str)
                and isinstance(row[2], int | float) and not isinstance(row[2], bool)):
            raise ValueError(f"row {i} is not [enabled, name, weight]")
        if row[1] == "None":
            continue
        out.append(msgspec.convert({"enabled": row[0], "name": row[1], "weight": row[2]}, LoraEntry))
    return out


def parse_preset(name: str, data: bytes, source: str) -> Preset:
    """Raises ValueError when the file is not a JSON object; bad keys become notes."""
    try:
        obj = json.loads(data)
    except ValueError as exc:
        raise ValueError(f"not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise ValueError("a preset must be a JSON object")
    fields: dict[str, Any] = {}
    notes: list[str] = []
    previous: list[str] = []
    switch_step: int | None = None
    for key, value in obj.items():
        field = FOOOCUS_KEYS.get(key) or (key if key in _REQUEST_FIELDS else None)
        try:
            if key == "previous_default_models":
                if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
                    raise ValueError("must be a list of model names")
                previous = list(value)
            elif key == "default_overwrite_switch":
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise ValueError("must be a number")
                if 0 < value <= 1:
                    fields["overwrite_switch"] = float(value)
                elif value > 1:
                    switch_step = int(value)
            elif key in DOWNLOAD_KEYS:
                notes.append(f"{key} ignored: remgo never downloads; put the files in the models folders")
            elif field is None:
                notes.append(f"{key} ignored: not a generation setting remgo uses")
            elif field == "loras":
                fields["loras"] = _loras(value)
            else:
                msgspec.convert({field: value}, GenerateRequest, strict=False)
                fields[field] = value
        except (ValueError, msgspec.ValidationError) as exc:
            notes.append(f"{key} ignored: {str(exc).split(' - at ')[0]}")
    values = msgspec.convert(fields, GenerateRequest, strict=False)
    return Preset(name=name, source=source, values=values, previous_default_models=previous,
                  overwrite_switch_step=switch_step, notes=notes, raw=obj)


def load_presets(folder: Path) -> tuple[dict[str, Preset], list[str]]:
    """Every `*.json` of the folder by file stem, and a problem line per file or key not used."""
    presets: dict[str, Preset] = {}
    problems: list[str] = []
    if not folder.is_dir():
        return presets, problems
    for path in sorted(folder.glob("*.json"), key=lambda p: p.name):
        try:
            preset = parse_preset(path.stem, path.read_bytes(), path.name)
        except (OSError, ValueError) as exc:
            problems.append(f"presets/{path.name} skipped: {exc}")
            continue
        presets[preset.name] = preset
        problems.extend(f"presets/{path.name}: {n}" for n in preset.notes if "downloads" not in n)
    return presets, problems
