"""Input image files for the input store and upload tests, made with Pillow (or by the PNG spec) at test time."""

from __future__ import annotations

import io
import random
import struct
import zlib

from PIL import Image


def image_file(fmt: str, size=(64, 48), color=(200, 60, 20)) -> bytes:
    """A real file of PIL format `fmt` ("PNG", "JPEG", "WEBP", "GIF")."""
    buf = io.BytesIO()
    image = Image.new("RGB", size, color)
    image.save(buf, format=fmt)
    return buf.getvalue()


def noise_file(fmt: str, size=(256, 256), seed: int = 0) -> bytes:
    """Random pixels: a file whose image data fills most of it, so cutting it leaves a truncated stream."""
    rng = random.Random(seed)
    image = Image.frombytes("RGB", size, rng.randbytes(size[0] * size[1] * 3))
    buf = io.BytesIO()
    image.save(buf, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return buf.getvalue()


def truncated(data: bytes, keep: float = 0.6) -> bytes:
    return data[: int(len(data) * keep)]


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_claiming(width: int, height: int) -> bytes:
    """A decompression bomb, written from the PNG spec: a valid header (IHDR: 8-bit RGB) that says
    width × height, a few hundred bytes in all. Decoding it would need width × height × 3 bytes."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    data = zlib.compress(b"\0" * (1 + 3 * min(width, 4096)), 9)  # one row's worth at most
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", data) + _chunk(b"IEND", b"")
