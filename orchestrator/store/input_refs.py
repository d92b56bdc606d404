"""A request's input images → files in the input store, and the request naming each by its sha256.

An image field of a request (contract/request.py's `ImageRef`) is one of:
- the file inline: base64 (standard or URL-safe, padded or not, whitespace ignored) or a data URI
  `data:image/png;base64,…`;
- `{"upload_id": sha256}`: a file sent before to `POST /v1/uploads`, which must still be in the store;
- `{"history_id": id}`: the image of the history with that id (GET /v1/history), copied into the store.
Each is checked (store/input_checks.py) and stored; every refusal is an InputRefused naming the field's
JSON path. Decoding and hashing megabytes: call `resolve_inputs` off the event loop.
"""

from __future__ import annotations

import base64
import binascii
import re

import msgspec

from contract.image_input import MAX_INPUT_BYTES
from contract.request import GenerateRequest, ImageSource
from orchestrator.common.input_image import ResolvedImage
from orchestrator.store.history.index import History
from orchestrator.store.input_checks import InputRefused, check_size, read_header
from orchestrator.store.inputs import InputStore

IMAGE_FIELDS = ("uov_input_image", "inpaint_input_image", "inpaint_mask_image")
# An image prompt's image goes by `image_prompts[i].image`, its JSON path without `$.`.
PROMPT_IMAGE = "image_prompts[{}].image"
# The longest base64 text (without whitespace) of a file within MAX_INPUT_BYTES: longer is refused unread.
MAX_BASE64_CHARS = -(-MAX_INPUT_BYTES // 3) * 4
_BASE64 = re.compile(r"[A-Za-z0-9+/_-]*={0,2}")
_URLSAFE = str.maketrans("-_", "+/")
# What a data URI may declare, as the format the file must then be.
_DECLARED = {"image/png": "png", "image/jpeg": "jpeg", "image/jpg": "jpeg", "image/webp": "webp"}


def decode_inline(text: str, field: str) -> tuple[bytes, str | None]:
    """The bytes of an inline image and the format its data URI declares (None for plain base64)."""
    declared = None
    if text[:5].lower() == "data:":
        head, comma, text = text[5:].partition(",")
        params = [p.strip().lower() for p in head.split(";")]
        if not comma or "base64" not in params[1:]:
            raise InputRefused(field, "a data URI must carry base64: data:image/png;base64,…")
        if not params[0].startswith("image/"):
            raise InputRefused(field, f"the data URI is of type {params[0] or 'text/plain'}, not an image")
        declared = _DECLARED.get(params[0], params[0].removeprefix("image/"))
    compact = "".join(text.split())
    if len(compact) > MAX_BASE64_CHARS:
        raise InputRefused(field, f"the base64 text is {len(compact)} characters, more than the "
                                  f"{MAX_INPUT_BYTES} bytes ({MAX_INPUT_BYTES // 2**20} MiB) an input image may have")
    if not compact or not _BASE64.fullmatch(compact) or len(compact.rstrip("=")) % 4 == 1:
        raise InputRefused(field, "not base64 nor a data URI (data:image/png;base64,…); image URLs are not "
                                  "fetched: send the file itself, or an upload_id from POST /v1/uploads")
    bare = compact.rstrip("=").translate(_URLSAFE)
    try:
        return base64.b64decode(bare + "=" * (-len(bare) % 4), validate=True), declared
    except (binascii.Error, ValueError):
        raise InputRefused(field, "not valid base64") from None


class InputResolver:
    def __init__(self, store: InputStore, history: History) -> None:
        self.store = store
        self.history = history

    def resolve_inputs(self, request: GenerateRequest) -> tuple[GenerateRequest, dict[str, ResolvedImage]]:
        """`request` with every image field (the image prompts' too) as `{"upload_id": sha256}`, and what was
        stored, by field name (`image_prompts[i].image` for a prompt's)."""
        resolved: dict[str, ResolvedImage] = {}
        for name in IMAGE_FIELDS:
            ref = getattr(request, name)
            if ref is not None:
                resolved[name] = self.resolve(ref, f"$.{name}")
        prompts = list(request.image_prompts or [])
        for i, prompt in enumerate(prompts):
            name = PROMPT_IMAGE.format(i)
            resolved[name] = found = self.resolve(prompt.image, f"$.{name}")
            prompts[i] = msgspec.structs.replace(prompt, image=ImageSource(upload_id=found.sha256))
        if not resolved:
            return request, resolved
        sources = {name: ImageSource(upload_id=resolved[name].sha256) for name in IMAGE_FIELDS if name in resolved}
        if prompts:
            sources["image_prompts"] = prompts
        return msgspec.structs.replace(request, **sources), resolved

    def resolve(self, ref: str | ImageSource, field: str) -> ResolvedImage:
        if isinstance(ref, str):
            data, declared = decode_inline(ref, field)
            header = read_header(data, field)
            if declared is not None and declared != header.format:
                raise InputRefused(field, f"the data URI says image/{declared} but the file is a "
                                          f"{header.format.upper()} image")
            return self.store.put(data, field)
        if ref.upload_id is not None:
            if not self.store.has(ref.upload_id):
                raise InputRefused(field, f"no upload with id {ref.upload_id}: send the file to POST /v1/uploads "
                                          "first (its answer's upload_id names it)")
            return self.store.describe(ref.upload_id, field)
        assert ref.history_id is not None  # ImageSource holds exactly one of the two
        return self._from_history(ref.history_id, field)

    def _from_history(self, image_id: str, field: str) -> ResolvedImage:
        row = self.history.row(image_id)
        if row is None:
            raise InputRefused(field, f"no history image with id {image_id!r}")
        path = self.history.file_path(row)  # the outputs' safe lookup (or an imported folder's)
        if path is None:
            raise InputRefused(field, f"the file of history image {image_id!r} ({row['path']}) is gone")
        try:
            check_size(path.stat().st_size, field)
            data = path.read_bytes()
        except OSError as exc:
            raise InputRefused(field, f"the file of history image {image_id!r} cannot be read: {exc}") from None
        return msgspec.structs.replace(self.store.put(data, field), history_id=image_id)
