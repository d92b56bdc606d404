"""Small image files the tests send as inputs: a flat-colour PNG and its base64 text."""

from __future__ import annotations

import base64
import io

from PIL import Image


def png(size: tuple[int, int], color, mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, color).save(out, "PNG")
    return out.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
