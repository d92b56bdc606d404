"""An input image of a request once the server holds it: stored in the input store under its sha256, its
header read (format, size). Normalization decides sizes from these; the bytes stay in the store."""

from __future__ import annotations

import msgspec


class ResolvedImage(msgspec.Struct, frozen=True, kw_only=True):
    sha256: str  # of the file's bytes; its name in the input store
    width: int
    height: int
    format: str  # "png", "jpeg" or "webp"
    nbytes: int
    history_id: str | None = None  # the history image it was taken from, if any
