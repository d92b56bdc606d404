"""The HTML of the daily log page: one entry per image (its file and parameters) and the page around them.

Prompts are user text and imported rows carry whatever their files said, so every value goes through
`html.escape`; the page also forbids scripts outright (a Content-Security-Policy meta), so text that
looks like markup can only ever show as text. Links are relative to the date folder, so the page works
opened straight from disk, copied elsewhere with its folder, or served by any static file server.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from urllib.parse import quote

import msgspec

from orchestrator.common.image_params import ImageParams
from orchestrator.store.metadata.fooocus import fooocus_json, log_fields

# Marks a page this module wrote; a log.html without it (Fooocus's own) is never overwritten.
GENERATOR = "remgo daily log"

# Fooocus's labels for the keys it logs (metadata.log_fields), in the words its own log page uses.
_LABELS = {
    "prompt": "Prompt",
    "negative_prompt": "Negative Prompt",
    "prompt_expansion": "Fooocus V2 Expansion",
    "styles": "Styles",
    "performance": "Performance",
    "steps": "Steps",
    "resolution": "Resolution",
    "guidance_scale": "Guidance Scale",
    "sharpness": "Sharpness",
    "adm_guidance": "ADM Guidance",
    "base_model": "Base Model",
    "refiner_model": "Refiner Model",
    "refiner_switch": "Refiner Switch",
    "overwrite_switch": "Forced Overwrite of Refiner Switch Step",
    "refiner_swap_method": "Refiner Swap Method",
    "adaptive_cfg": "CFG Mimicking from TSNR",
    "clip_skip": "CLIP Skip",
    "sampler": "Sampler",
    "scheduler": "Scheduler",
    "vae": "VAE",
    "seed": "Seed",
    "freeu": "FreeU",
    "metadata_scheme": "Metadata Scheme",
    "version": "Version",
}

_STYLE = """
:root { color-scheme: light dark; font-family: system-ui, sans-serif; }
body { margin: 1rem auto; max-width: 1400px; padding: 0 1rem; }
header p { opacity: .75; }
article { display: flex; flex-wrap: wrap; gap: 1rem; border-top: 1px solid #8884; padding: 1rem 0; }
article > a img { display: block; max-width: min(512px, 100%); height: auto; }
article > div { flex: 1 1 420px; min-width: 0; }
h2 { font-size: 1rem; margin: 0 0 .5rem; font-weight: normal; }
h2 a { font-weight: bold; }
table { border-collapse: collapse; width: 100%; }
th, td { border: 1px solid #8886; padding: 3px 6px; text-align: left; vertical-align: top; }
th { width: 12rem; font-weight: normal; opacity: .8; }
td { white-space: pre-wrap; overflow-wrap: anywhere; font-weight: bold; }
details { margin-top: .5rem; }
details .label { opacity: .75; }
details p, pre { white-space: pre-wrap; overflow-wrap: anywhere; margin: .25rem 0; }
"""


def _esc(value: Any) -> str:
    """Text for an attribute value."""
    return html.escape(str(value), quote=True)


def _text(value: Any) -> str:
    """Text for element content (quotes need no escaping there, and the JSON block is full of them)."""
    return html.escape(str(value), quote=False)


def _params(row: dict[str, Any]) -> ImageParams | None:
    if not row.get("metadata"):
        return None
    try:
        return msgspec.json.decode(row["metadata"], type=ImageParams)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None  # written by another version: the columns still say the essentials


def _json_list(text: str | None) -> list:
    try:
        value = json.loads(text) if text else []
    except ValueError:
        return []
    return value if isinstance(value, list) else []


def _fields_from_params(params: ImageParams) -> list[tuple[str, str]]:
    fields = log_fields(params)
    fields["styles"] = ", ".join(params.styles)  # not the Python list text the metadata carries
    out: list[tuple[str, str]] = []
    for key, value in fields.items():
        if value in ("", None):
            continue
        if key.startswith("lora_combined_"):
            label = f"LoRA {key.rsplit('_', 1)[1]}"
        else:
            label = _LABELS.get(key, key.replace("_", " ").capitalize())
        out.append((label, str(value)))
    return out


def _fields_from_columns(row: dict[str, Any]) -> list[tuple[str, str]]:
    """What the index knows of an image whose full parameters could not be read (older, foreign files)."""
    loras = [f"{x.get('name')} : {x.get('weight')}" for x in _json_list(row.get("loras"))
             if isinstance(x, dict)]
    candidates = [
        ("Prompt", row.get("prompt")),
        ("Negative Prompt", row.get("negative")),
        ("Styles", ", ".join(str(s) for s in _json_list(row.get("styles")))),
        ("Performance", row.get("performance")),
        ("Steps", row.get("steps")),
        ("Guidance Scale", row.get("guidance")),
        ("Base Model", row.get("model")),
        ("Refiner Model", row.get("refiner")),
        ("Sampler", row.get("sampler")),
        ("Scheduler", row.get("scheduler")),
        ("Seed", row.get("seed")),
        *((f"LoRA {i}", text) for i, text in enumerate(loras, start=1)),
        ("Metadata Scheme", row.get("scheme")),
    ]
    return [(label, str(value)) for label, value in candidates if value not in (None, "")]


def entry_html(row: dict[str, Any]) -> str:
    """One image of the day: its picture (linking to the file) and a table of its parameters."""
    name = row["path"].rsplit("/", 1)[-1]
    link = _esc(quote(name))
    params = _params(row)
    fields = _fields_from_params(params) if params is not None else _fields_from_columns(row)
    when = datetime.fromtimestamp(row["seq"] / 1_000_000).strftime("%H:%M:%S")
    known = bool(row.get("width") and row.get("height"))  # lets the page lay out before the pictures load
    size = f' width="{int(row["width"])}" height="{int(row["height"])}"' if known else ""
    facts = [f"{row['width']}×{row['height']}" if size else None, row.get("format"),
             f"job {row['job_id']}" if row.get("job_id") else None,
             None if row.get("source") == "generated" else row.get("source")]
    parts = [
        f'<article id="{_esc(name)}">',
        f'<a href="{link}"><img src="{link}" alt="{_esc(name)}" loading="lazy"{size}></a>',
        f'<div><h2><a href="#{link}">{when}</a> {_text(name)}',
        "".join(f" · {_text(f)}" for f in facts if f),
        "</h2><table>",
        *(f"<tr><th>{_text(label)}</th><td>{_text(value)}</td></tr>" for label, value in fields),
        "</table>",
    ]
    if params is not None and (params.full_prompt or params.full_negative_prompt):
        parts.append("<details><summary>Full prompt (after styles and wildcards)</summary>")
        parts.extend(f"<p>{_text(chunk)}</p>" for chunk in params.full_prompt)
        if params.full_negative_prompt:
            parts.append("<p class=\"label\">Negative:</p>")
            parts.extend(f"<p>{_text(chunk)}</p>" for chunk in params.full_negative_prompt)
        parts.append("</details>")
    if params is not None:
        # The text Fooocus embeds and reads back; pasted into Fooocus's prompt box it loads these settings.
        parts.append(f"<details><summary>Parameters as JSON</summary><pre>{_text(fooocus_json(params))}</pre>"
                     "</details>")
    elif row.get("raw_metadata"):
        parts.append(f"<details><summary>Embedded metadata</summary><pre>{_text(row['raw_metadata'])}</pre>"
                     "</details>")
    parts.append("</div></article>\n")
    return "".join(parts)


def page_html(day: str, count: int, entries: Iterable[str]) -> str:
    """The whole page; `entries` newest first."""
    head = (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<meta name=\"generator\" content=\"{GENERATOR}\">"
        "<meta http-equiv=\"Content-Security-Policy\" content=\"script-src 'none'; object-src 'none'; "
        "base-uri 'none'; form-action 'none'\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>remgo log {_text(day)}</title><style>{_STYLE}</style></head><body>\n"
        f"<header><h1>remgo log {_text(day)}</h1><p>{count} image{'' if count == 1 else 's'}, newest first. "
        "Written from remgo's history index as images are made, deleted or indexed; "
        "local times.</p></header>\n<main>\n"
    )
    return "".join([head, *entries, "</main></body></html>\n"])
