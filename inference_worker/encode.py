"""PIL image → png/jpeg/webp bytes with the task's metadata embedded.

PNG gets one text chunk per key (what Fooocus and A1111 readers look for). JPEG and WebP have no text
chunks, so the mapping goes into EXIF: `parameters` (or the whole mapping as JSON when there are other
keys) in UserComment, the way A1111 does it, and the scheme name in ImageDescription.
"""

from __future__ import annotations

import io
import json

from PIL import Image, PngImagePlugin

from contract.task import OutputFormat

_EXIF_IMAGE_DESCRIPTION = 0x010E
_EXIF_IFD = 0x8769
_EXIF_USER_COMMENT = 0x9286
JPEG_QUALITY = 95
WEBP_QUALITY = 95


def _user_comment(text: str) -> bytes:
    # EXIF UserComment: an 8-byte charset header, then the text (UTF-16 big-endian for "UNICODE").
    return b"UNICODE\x00" + text.encode("utf-16-be")


def _exif_text(metadata: dict[str, str]) -> str:
    if set(metadata) == {"parameters"}:
        return metadata["parameters"]
    return json.dumps(metadata, ensure_ascii=False, sort_keys=True)


def encode_image(image: Image.Image, fmt: OutputFormat, metadata: dict[str, str] | None = None) -> bytes:
    metadata = metadata or {}
    if image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    buf = io.BytesIO()
    if fmt is OutputFormat.png:
        info = PngImagePlugin.PngInfo()
        for key, value in metadata.items():
            if value.isascii():
                info.add_text(key, value)
            else:
                info.add_itxt(key, value)
        image.save(buf, format="PNG", pnginfo=info, compress_level=4)
        return buf.getvalue()
    exif = Image.Exif()
    if metadata:
        exif.get_ifd(_EXIF_IFD)[_EXIF_USER_COMMENT] = _user_comment(_exif_text(metadata))
        scheme = metadata.get("fooocus_scheme") or metadata.get("scheme")
        if scheme:
            exif[_EXIF_IMAGE_DESCRIPTION] = scheme
    if fmt is OutputFormat.jpeg:
        image.save(buf, format="JPEG", quality=JPEG_QUALITY, exif=exif.tobytes())
    elif fmt is OutputFormat.webp:
        image.save(buf, format="WEBP", quality=WEBP_QUALITY, exif=exif.tobytes())
    else:  # pragma: no cover - the enum is closed
        raise ValueError(f"unknown output format {fmt!r}")
    return buf.getvalue()


def read_metadata(data: bytes) -> dict[str, str]:
    """The mapping `encode_image` embedded (used by tests and by anyone reading outputs back)."""
    with Image.open(io.BytesIO(data)) as img:
        if img.format == "PNG":
            return {k: v for k, v in img.text.items()}
        exif = img.getexif()
        raw = exif.get_ifd(_EXIF_IFD).get(_EXIF_USER_COMMENT)
        if not raw:
            return {}
        if isinstance(raw, bytes):
            head, body = raw[:8], raw[8:]
            text = (
                body.decode("utf-16-be") if head.startswith(b"UNICODE") else body.decode("utf-8", "replace")
            )
        else:
            text = str(raw)
        try:
            value = json.loads(text)
        except ValueError:
            return {"parameters": text}
        return value if isinstance(value, dict) else {"parameters": text}
