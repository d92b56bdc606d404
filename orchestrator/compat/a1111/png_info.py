"""`POST /sdapi/v1/png-info`: the generation text inside an image, and its fields as A1111 splits them.

`info` is the `parameters` text (remgo's images carry it in A1111's layout when made through this face),
`items` the image's other metadata entries, `parameters` the text read A1111's way: `Prompt`,
`Negative prompt`, each `Key: value` of the last line (quoted values unquoted), and `Size-1`/`Size-2`.
"""

from __future__ import annotations

import re
from typing import Any

from orchestrator.store.metadata.a1111 import NEGATIVE_PREFIX, unquote
from orchestrator.store.metadata.image_io import read_embedded

# `Key: value` where the value is a JSON string or runs to the next comma.
_PAIR = re.compile(r'\s*([\w][\w \-/+]*):\s*("(?:\\.|[^\\"])*"|[^,]*)(?:,|$)')
_SIZE = re.compile(r"^(\d+)x(\d+)$")


def fields(text: str) -> dict[str, Any]:
    *lines, last = text.strip().split("\n") or [""]
    pairs = _PAIR.findall(last)
    if len(pairs) < 3:  # no parameter line: the whole text is the prompt
        lines, pairs = [*lines, last], []
    prompt, negative, in_negative = [], [], False
    for line in lines:
        if line.strip().startswith(NEGATIVE_PREFIX):
            in_negative = True
            line = line.strip()[len(NEGATIVE_PREFIX):].strip()
        (negative if in_negative else prompt).append(line)
    out: dict[str, Any] = {"Prompt": "\n".join(prompt).strip(), "Negative prompt": "\n".join(negative).strip()}
    for key, value in pairs:
        value = unquote(value.strip())
        out[key.strip()] = value
        size = _SIZE.match(value)
        if size and key.strip().endswith("Size"):
            out[f"{key.strip()}-1"], out[f"{key.strip()}-2"] = size.group(1), size.group(2)
    return out


def png_info(data: bytes) -> dict[str, Any]:
    try:
        embedded = read_embedded(data)
    except (OSError, ValueError):
        embedded = {}
    text = embedded.pop("parameters", "")
    return {"info": text, "items": embedded, "parameters": fields(text) if text else {}}
