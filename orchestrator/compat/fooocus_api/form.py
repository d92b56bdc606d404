"""Fooocus-API's v1 multipart forms → the JSON document of the same request (what the job keeps).

Text parts are Fooocus-API's form fields: `style_selections` and `outpaint_selections` comma-separated
(and/or repeated), `loras` and `advanced_params` JSON strings, the rest numbers and booleans as text (read
when the document is decoded). File parts (`input_image`, `input_mask`) are checked and stored in the input
store; the document names each by `{"upload_id"}`. `cn_img1…4` are the image prompts' files (slot n with its
`cn_stop{n}`, `cn_weight{n}`, `cn_type{n}`), stored the same way.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request

from contract.image_input import MAX_INPUT_BYTES
from orchestrator.api.request_guard import IMAGE_BODY_LIMIT
from orchestrator.compat.fooocus_api.errors import Refused
from orchestrator.compat.fooocus_api.shapes import IMAGE_FIELDS, AnyRequest
from orchestrator.store.input_checks import InputRefused
from orchestrator.store.inputs import InputStore

LISTS = ("style_selections", "outpaint_selections")  # comma-separated text, the part maybe repeated
JSON_TEXT = ("loras", "advanced_params")
# Text kept as it is when empty; any other empty part counts as left out (Swagger UI sends empty parts).
TEXTS = frozenset({"prompt", "negative_prompt", "inpaint_additional_prompt", "save_name", "webhook_url"})
SLOTS = range(1, 5)
PROMPT_PARTS = tuple(f"{name}{n}" for n in SLOTS for name in ("cn_img", "cn_stop", "cn_weight", "cn_type"))


def part_names(shape: type[AnyRequest], image_prompts: bool) -> frozenset[str]:
    names = set(shape.__struct_fields__) - {"image_prompts"}
    return frozenset(names | set(PROMPT_PARTS)) if image_prompts else frozenset(names)


async def read_form(request: Request, shape: type[AnyRequest], store: InputStore, *,
                    image_prompts: bool = False) -> dict[str, Any]:
    """The form as the JSON document of `shape`; Refused (naming the part) for what is not taken."""
    known = part_names(shape, image_prompts)
    document: dict[str, Any] = {}
    files: dict[str, bytes] = {}
    try:
        async with request.form(max_files=8, max_fields=len(known) + 16, max_part_size=IMAGE_BODY_LIMIT) as form:
            for name, value in form.multi_items():
                if name not in known:
                    raise Refused(f"$.{name}", f"unknown form field `{name}`")
                if isinstance(value, UploadFile):
                    data = await value.read(MAX_INPUT_BYTES + 1)
                    if data:
                        if name in files:
                            raise Refused(f"$.{name}", "the file is given twice")
                        files[name] = data
                elif name in LISTS:
                    document.setdefault(name, []).extend(s.strip() for s in value.split(",") if s.strip())
                elif name in document:
                    raise Refused(f"$.{name}", "is given more than once; give it once")
                elif value != "" or name in TEXTS:
                    document[name] = value
    except (MultiPartException, HTTPException) as exc:
        message = exc.message if isinstance(exc, MultiPartException) else exc.detail
        raise Refused("$", f"not a multipart/form-data body this route takes: {message}") from None
    for name in JSON_TEXT:
        if name in document:
            try:
                document[name] = json.loads(document[name])
            except ValueError as exc:
                raise Refused(f"$.{name}", f"must be JSON text: {exc}") from None
    stored = {}
    for name, data in files.items():
        if name not in IMAGE_FIELDS and not name.startswith("cn_img"):
            raise Refused(f"$.{name}", f"the part {name!r} must be text, not a file")
        try:
            found = await run_in_threadpool(store.put, data, f"$.{name}")  # decodes and hashes: off the loop
        except InputRefused as exc:
            raise Refused(exc.field, exc.message) from None
        stored[name] = {"upload_id": found.sha256}
    document.update({name: ref for name, ref in stored.items() if name in IMAGE_FIELDS})
    _image_prompts(document, stored)
    return document


def _image_prompts(document: dict[str, Any], stored: dict[str, dict]) -> None:
    """`cn_img{n}` (stored) with its stop/weight/type → one entry of `image_prompts` (checked by the shape)."""
    for n in SLOTS:
        if f"cn_img{n}" in document:
            raise Refused(f"$.cn_img{n}", "send the image prompt's image as a file")
    prompts = []
    for n in SLOTS:
        slot = {key: document.pop(f"{key}{n}") for key in ("cn_stop", "cn_weight", "cn_type") if f"{key}{n}" in document}
        if f"cn_img{n}" in stored:
            slot["cn_img"] = stored[f"cn_img{n}"]
        if slot:
            prompts.append(slot)
    if prompts:
        document["image_prompts"] = prompts
