"""Metadata text inside image files: the one reader (the worker's `encode` module is the one writer).

Where the text lives, per format, as Fooocus writes it (so files round-trip through other tools):
- PNG: text chunks `parameters` (the metadata text) and `fooocus_scheme` (`fooocus` or `a1111`).
- JPEG / WebP: EXIF UserComment (0x9286) in the first IFD holding `parameters`, MakerNote (0x927C)
  holding the scheme, plus a lossless UTF-16 copy in the Exif IFD's UserComment (`UNICODE\\0` header,
  as A1111 writes it), which this reader prefers.
The reader also understands A1111's files (Exif IFD UserComment only), a bare UTF-8 UserComment, and
a UserComment holding the whole key → text mapping as JSON.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

SCHEMES = ("fooocus", "a1111")
_EXIF_IFD = 0x8769
_USER_COMMENT = 0x9286
_MAKER_NOTE = 0x927C
_IMAGE_DESCRIPTION = 0x010E
_SOFTWARE = 0x0131
_FORMATS = {"PNG": "png", "JPEG": "jpeg", "WEBP": "webp"}
_EXIF_KEYS = {"parameters", "fooocus_scheme"}


@dataclass(frozen=True)
class ImageProbe:
    """What opening an image file tells without decoding its pixels."""

    width: int
    height: int
    format: str  # png | jpeg | webp
    embedded: dict[str, str] = field(default_factory=dict)  # e.g. {"parameters": …, "fooocus_scheme": …}


def _utf16(body: bytes) -> str:
    if body[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return body.decode("utf-16")
    # No byte order mark: the half of the bytes that is mostly zero (ASCII text) tells the order.
    even_zeros = body[0::2].count(0)
    odd_zeros = body[1::2].count(0)
    return body.decode("utf-16-le" if odd_zeros > even_zeros else "utf-16-be", "replace")


def decode_user_comment(raw: object) -> str | None:
    """EXIF UserComment → text: the 8-byte charset header when there is one, else UTF-8."""
    if raw is None:
        return None
    if isinstance(raw, str):
        text = raw
    elif isinstance(raw, bytes):
        head, body = raw[:8], raw[8:]
        if head == b"UNICODE\x00":
            text = _utf16(body)
        elif head == b"ASCII\x00\x00\x00" or head == b"\x00" * 8:
            text = body.decode("utf-8", "replace")
        elif head == b"JIS\x00\x00\x00\x00\x00":
            text = body.decode("shift_jis", "replace")
        else:
            text = raw.decode("utf-8", "replace")
    else:
        return None
    text = text.rstrip("\x00")
    return text or None


def _text(raw: object) -> str | None:
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    return raw.strip("\x00").strip() if isinstance(raw, str) else None


def _unwrap_mapping(text: str) -> dict[str, str] | None:
    # Some writers put the whole key → text mapping into UserComment as one JSON object.
    if not text.startswith("{"):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if isinstance(value, dict) and isinstance(value.get("parameters"), str):
        return {k: v for k, v in value.items() if isinstance(v, str)}
    return None


def _from_exif(img: Image.Image) -> dict[str, str]:
    exif = img.getexif()
    if not exif:
        return {}
    lossless = decode_user_comment(exif.get_ifd(_EXIF_IFD).get(_USER_COMMENT))
    text = lossless or decode_user_comment(exif.get(_USER_COMMENT))
    if not text:
        return {}
    mapping = _unwrap_mapping(text)
    if mapping is not None:
        return mapping
    found = {"parameters": text}
    for tag in (_MAKER_NOTE, _IMAGE_DESCRIPTION):
        scheme = _text(exif.get(tag))
        if scheme in SCHEMES:
            found["fooocus_scheme"] = scheme
            break
    return found


def _from_png(img: Image.Image) -> dict[str, str]:
    # Chunks before the pixel data are in `info`; `text` also reads trailing ones (decodes the file).
    chunks = {k: v for k, v in img.info.items() if isinstance(v, str)}
    if "parameters" not in chunks:
        chunks.update(getattr(img, "text", {}) or {})
    found = {k: str(chunks[k]) for k in ("parameters", "fooocus_scheme") if k in chunks}
    if "parameters" not in found and img.info.get("exif"):
        return _from_exif(img)
    return found


def probe(source: Path | bytes) -> ImageProbe:
    """Size, format and embedded metadata of one image; raises OSError/ValueError for non-images."""
    fp = io.BytesIO(source) if isinstance(source, bytes) else source
    try:
        img = Image.open(fp)
    except Image.DecompressionBombError as exc:  # not an OSError: keep one failure type for callers
        raise ValueError(str(exc)) from None
    with img:
        fmt = _FORMATS.get(img.format or "")
        if fmt is None:
            raise ValueError(f"not a png/jpeg/webp image: {img.format}")
        embedded = _from_png(img) if fmt == "png" else _from_exif(img)
        return ImageProbe(width=img.width, height=img.height, format=fmt, embedded=embedded)


def read_embedded(source: Path | bytes) -> dict[str, str]:
    """The metadata mapping embedded in an image (empty when there is none)."""
    return probe(source).embedded
