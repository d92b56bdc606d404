"""History rows: built from ImageParams or from an image file on disk, and shown as API items."""

from __future__ import annotations

import json
import logging
import re
import secrets
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec

from orchestrator.common.image_params import ImageParams
from orchestrator.store.history.query import micros
from orchestrator.store.history.schema import model_key
from orchestrator.store.metadata import text as metadata_text
from orchestrator.store.metadata.image_io import probe

log = logging.getLogger(__name__)

# Fooocus and RemGo name files `YYYY-MM-DD_HH-MM-SS_<n>.<ext>` in local time.
NAME_TIME = re.compile(r"^(\d{4})-(\d{2})-(\d{2})_(\d{2})-(\d{2})-(\d{2})")
_MAX_SQLITE_INT = 2**63 - 1


class HistoryItem(msgspec.Struct, frozen=True, kw_only=True):
    """One image as the API shows it."""

    id: str
    url: str
    thumb_url: str
    path: str
    created: str
    job_id: str | None
    width: int | None
    height: int | None
    format: str | None
    size: int | None
    prompt: str | None
    negative_prompt: str | None
    styles: list[str]
    model: str | None
    model_hash: str | None
    refiner: str | None
    loras: list[dict[str, Any]]
    sampler: str | None
    scheduler: str | None
    steps: int | None
    guidance_scale: float | None
    seed: int | None
    performance: str | None
    scheme: str | None
    starred: bool
    source: str
    params: dict[str, Any] | None  # the full ImageParams, when known
    raw_metadata: str | None  # embedded text this version could not read as ImageParams


def new_image_id() -> str:
    return secrets.token_hex(8)


def created_from_name(path: Path) -> int:
    """When a file was made, in µs: the timestamp in its name (local time), else its modification time."""
    match = NAME_TIME.match(path.name)
    if match:
        try:
            return micros(datetime(*(int(g) for g in match.groups())))
        except ValueError:
            pass
    return micros(datetime.fromtimestamp(path.stat().st_mtime))


def params_columns(params: ImageParams) -> dict[str, Any]:
    """The searchable columns of one ImageParams, plus its full JSON."""
    return {
        "prompt": params.prompt,
        "negative": params.negative_prompt,
        "styles": json.dumps(list(params.styles)),
        "model": params.base_model,
        "model_hash": params.base_model_hash,
        "refiner": params.refiner_model,
        "loras": json.dumps([{"name": x.name, "weight": x.weight, "hash": x.hash} for x in params.loras]),
        "lora_names": "\n".join(x.name for x in params.loras) or None,
        "model_key": model_key(params.base_model),
        "sampler": params.sampler,
        "scheduler": params.scheduler,
        "steps": params.steps,
        "guidance": params.guidance_scale,
        "seed": params.seed if 0 <= params.seed <= _MAX_SQLITE_INT else None,
        "performance": params.performance,
        "scheme": params.metadata_scheme,
        "input_method": params.input.method if params.input else None,
        "input_hash": params.input.image_sha256 if params.input else None,
        "input_history_id": params.input.history_id if params.input else None,
        "image_prompt_types": "\n".join(p.type for p in params.image_prompts) or None,
        "metadata": msgspec.json.encode(params).decode(),
        "raw_metadata": None,
    }


def _int(value: Any) -> int | None:
    try:
        number = int(str(value).strip())
    except ValueError:
        return None
    return number if 0 <= number <= _MAX_SQLITE_INT else None


def _float(value: Any) -> float | None:
    try:
        return float(str(value).strip())
    except ValueError:
        return None


def _styles(value: Any) -> list[str]:
    # Fooocus logs styles as a Python list repr: "['Fooocus V2', 'Fooocus Enhance']".
    if isinstance(value, list):
        return [str(v) for v in value]
    if isinstance(value, str) and value.startswith("[") and value.endswith("]"):
        return [p.strip().strip("'\"") for p in value[1:-1].split(",") if p.strip().strip("'\"")]
    return []


def _lora_names(value: dict[str, Any]) -> str | None:
    # Fooocus logs LoRAs as `loras: [[name, weight, hash], …]` or as `lora_combined_N: "name : weight"`.
    names = [str(row[0]) for row in value.get("loras") or () if isinstance(row, list) and row]
    names += [v.rsplit(" : ", 1)[0] for k, v in sorted(value.items())
              if k.startswith("lora_combined_") and isinstance(v, str)]
    return "\n".join(dict.fromkeys(names)) or None


def json_columns(text: str | None) -> dict[str, Any]:
    """Searchable columns straight from a Fooocus-style JSON object whose whole ImageParams could not
    be rebuilt (older or foreign Fooocus versions, RemGo's metadata.db), so such images stay findable."""
    if not text or not text.startswith("{"):
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    if not isinstance(value, dict) or not isinstance(value.get("prompt"), str):
        return {}
    text_of = {k: v for k, v in value.items() if isinstance(v, str)}
    return {
        "prompt": value["prompt"],
        "negative": text_of.get("negative_prompt"),
        "styles": json.dumps(_styles(value.get("styles"))),
        "model": text_of.get("base_model"),
        "model_key": model_key(text_of.get("base_model")),
        "lora_names": _lora_names(value),
        "model_hash": text_of.get("base_model_hash"),
        "refiner": text_of.get("refiner_model") if text_of.get("refiner_model") not in ("", "None") else None,
        "sampler": text_of.get("sampler"),
        "scheduler": text_of.get("scheduler"),
        "steps": _int(value.get("steps")),
        "guidance": _float(value.get("guidance_scale")),
        "seed": _int(value.get("seed")),
        "performance": text_of.get("performance"),
        "scheme": "fooocus",
    }


def parse_text(text: str | None) -> ImageParams | None:
    """Embedded metadata text → ImageParams; None when there is none or it cannot be read."""
    if not text:
        return None
    try:
        return metadata_text.parse(text)
    except Exception as exc:  # one odd file must not stop a reconcile or an import
        log.warning("unreadable image metadata (%s): %.80r", exc, text)
        return None


def file_row(root: int, base: Path, relpath: str, *, source: str, fallback_text: str | None = None) -> dict:
    """A row for an image file found on disk, from its embedded metadata (or `fallback_text`).

    Raises OSError/ValueError when the file is not a readable png/jpeg/webp.
    """
    path = base.joinpath(*relpath.split("/"))
    found = probe(path)
    text = found.embedded.get("parameters") or fallback_text
    params = parse_text(text)
    row: dict[str, Any] = {
        "id": new_image_id(),
        "root": root,
        "path": relpath,
        "job_id": None,
        "seq": created_from_name(path),  # the wanted place; History makes it unique
        "width": found.width,
        "height": found.height,
        "format": found.format,
        "size": path.stat().st_size,
        "source": source,
        "starred": 0,
    }
    if params is not None:
        row.update(params_columns(params))
    else:
        row.update(raw_metadata=text, scheme=found.embedded.get("fooocus_scheme"))
        row.update(json_columns(text))
    return row


_decode = msgspec.json.decode  # several times faster than json.loads; pages decode 3 JSON columns a row


def to_item(row: dict[str, Any], url: str, thumb_url: str) -> HistoryItem:
    return HistoryItem(
        id=row["id"],
        url=url,
        thumb_url=thumb_url,
        path=row["path"],
        created=row["created"],
        job_id=row["job_id"],
        width=row["width"],
        height=row["height"],
        format=row["format"],
        size=row["size"],
        prompt=row["prompt"],
        negative_prompt=row["negative"],
        styles=_decode(row["styles"]) if row["styles"] else [],
        model=row["model"],
        model_hash=row["model_hash"],
        refiner=row["refiner"],
        loras=_decode(row["loras"]) if row["loras"] else [],
        sampler=row["sampler"],
        scheduler=row["scheduler"],
        steps=row["steps"],
        guidance_scale=row["guidance"],
        seed=row["seed"],
        performance=row["performance"],
        scheme=row["scheme"],
        starred=bool(row["starred"]),
        source=row["source"],
        params=_decode(row["metadata"]) if row["metadata"] else None,
        raw_metadata=row["raw_metadata"],
    )
