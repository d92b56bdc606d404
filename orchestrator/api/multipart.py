"""`multipart/form-data` bodies of the two routes that take image files.

`POST /v1/uploads`: one file part `file`. `POST /v1/jobs`: a part `request` holding the JSON body, and
file parts named as the request's image fields; each file is checked and stored, and the JSON gets
`{"upload_id": sha256}` in that field, so the job's kept body is plain JSON naming its inputs (an image
prompt's file goes in a part `image_prompts[i].image`, the entry `image_prompts[i]` of the JSON giving its
type, stop and weight). Every
refusal is a FormRefused (400) naming the part, or `$` for a body that is not multipart at all.
"""

from __future__ import annotations

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request

from contract.image_input import MAX_INPUT_BYTES
from contract.image_prompt import MAX_IMAGE_PROMPTS
from contract.legacy import is_legacy_payload
from orchestrator.api.request_body import decode_request
from orchestrator.api.request_guard import IMAGE_BODY_LIMIT
from orchestrator.common.field_error import FieldError
from orchestrator.store.input_refs import IMAGE_FIELDS, PROMPT_IMAGE
from orchestrator.store.inputs import InputStore

REQUEST_PART = "request"
PROMPT_PARTS = tuple(PROMPT_IMAGE.format(i) for i in range(MAX_IMAGE_PROMPTS))


class FormRefused(FieldError):
    """A multipart body that is not taken; `field` names the part."""


async def read_parts(request: Request, names: tuple[str, ...]) -> dict[str, bytes | str]:
    """Each part by name (a file's bytes, a text field's text); unknown or repeated names are refused."""
    try:
        # A text part may be a whole JSON request with inline images; file parts spill to disk past 1 MiB.
        async with request.form(max_files=len(names), max_fields=len(names), max_part_size=IMAGE_BODY_LIMIT) as form:
            parts: dict[str, bytes | str] = {}
            for name, value in form.multi_items():
                if name not in names:
                    raise FormRefused(name, f"unknown part {name!r}; this route takes {', '.join(names)}")
                if name in parts:
                    raise FormRefused(name, f"the part {name!r} is given twice")
                # One byte past the limit is enough to refuse the file for its size.
                parts[name] = await value.read(MAX_INPUT_BYTES + 1) if isinstance(value, UploadFile) else value
            return parts
    except (MultiPartException, HTTPException) as exc:  # Starlette turns the first into the second in an app
        message = exc.message if isinstance(exc, MultiPartException) else exc.detail
        raise FormRefused("$", f"not a multipart/form-data body this route takes: {message}") from None


async def upload_file(request: Request) -> bytes:
    """The one file of an upload form."""
    parts = await read_parts(request, ("file",))
    data = parts.get("file")
    if not isinstance(data, bytes):
        raise FormRefused("file", "send the image as a file part named 'file'" if data is None
                          else "the part 'file' must be a file (with a filename), not a text field")
    return data


async def job_body(request: Request, store: InputStore) -> bytes:
    """The JSON body of a multipart job submission, its file parts stored and named by upload id."""
    parts = await read_parts(request, (REQUEST_PART, *IMAGE_FIELDS, *PROMPT_PARTS))
    if REQUEST_PART not in parts:
        raise FormRefused(REQUEST_PART, "a multipart job needs a part 'request' holding the JSON request; "
                                        f"the files go in parts named {', '.join(IMAGE_FIELDS)}")
    raw = parts.pop(REQUEST_PART)
    body = raw.encode() if isinstance(raw, str) else raw
    if not parts:
        return body
    try:
        document = msgspec.json.decode(body)
    except (msgspec.DecodeError, RecursionError):
        document = None
    if not isinstance(document, dict):
        decode_request(body)  # not a JSON object: refused as the same JSON body alone would be
    if not isinstance(document, dict) or is_legacy_payload(document):
        raise FormRefused(REQUEST_PART, "image file parts go with a v2 request (a JSON object of named fields)")
    for name, data in parts.items():
        if not isinstance(data, bytes):
            raise FormRefused(name, f"the part {name!r} must be a file (with a filename); an image as text "
                                    "goes in the JSON request instead")
        holder, key = _slot(document, name)
        if holder.get(key) is not None:
            raise FormRefused(name, f"{name} is given twice: in the JSON request and as a file part")
        found = await run_in_threadpool(store.put, data, name)  # decodes and hashes: off the event loop
        holder[key] = {"upload_id": found.sha256}
    return msgspec.json.encode(document)


def _slot(document: dict, name: str) -> tuple[dict, str]:
    """The JSON object and key a file part fills: the request's field, or an image prompt's `image`."""
    if name not in PROMPT_PARTS:
        return document, name
    index = PROMPT_PARTS.index(name)
    prompts = document.get("image_prompts")
    if not isinstance(prompts, list) or index >= len(prompts) or not isinstance(prompts[index], dict):
        raise FormRefused(name, f"a file for image_prompts[{index}] needs that entry in the JSON request "
                                '(its type, stop and weight: {"type": "ImagePrompt"} at the least)')
    return prompts[index], "image"
