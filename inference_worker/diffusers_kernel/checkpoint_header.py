"""Read a .safetensors header (tensor names, shapes, metadata) without loading a byte of weights.

The format: an 8-byte little-endian header length, then that many bytes of JSON mapping each tensor
name to {dtype, shape, data_offsets} plus an optional "__metadata__" of string → string.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass

# A real header is a few hundred KB; anything past this is not a safetensors file.
MAX_HEADER_BYTES = 100 * 1024 * 1024


@dataclass(frozen=True)
class CheckpointHeader:
    shapes: dict[str, tuple[int, ...]]
    metadata: dict[str, str]


class HeaderError(ValueError):
    pass


def read_header(path: str) -> CheckpointHeader:
    with open(path, "rb") as fh:
        raw_len = fh.read(8)
        if len(raw_len) != 8:
            raise HeaderError(f"{path}: too short to be a safetensors file")
        (length,) = struct.unpack("<Q", raw_len)
        if length > MAX_HEADER_BYTES:
            raise HeaderError(f"{path}: not a safetensors file (header length {length})")
        raw = fh.read(length)
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise HeaderError(f"{path}: unreadable safetensors header: {exc}") from None
    if not isinstance(header, dict):
        raise HeaderError(f"{path}: unreadable safetensors header")
    metadata = header.pop("__metadata__", None) or {}
    shapes = {k: tuple(v.get("shape", ())) for k, v in header.items() if isinstance(v, dict)}
    return CheckpointHeader(shapes=shapes, metadata={str(k): str(v) for k, v in metadata.items()})
