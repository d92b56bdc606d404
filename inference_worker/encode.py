"""PIL image → png/jpeg/webp bytes with the task's metadata embedded, laid out the way Fooocus writes it.

- PNG: one text chunk per key (`parameters`, `fooocus_scheme`), iTXt when the text is not Latin-1.
- JPEG / WebP: EXIF UserComment (0x9286) in the first IFD holds `parameters` and MakerNote (0x927C) the
  scheme, where Fooocus and the tools that read its files look. Pillow writes that UserComment as ASCII
  (non-ASCII prompts would read back as '?'), so a lossless copy also goes in the Exif IFD's UserComment
  with the standard `UNICODE\\0` header (UTF-16 big-endian, as A1111 writes it). Keys beyond those two
  have no EXIF home: the whole mapping is then stored as one JSON object in UserComment.
The orchestrator's `image_metadata_io` is the one reader of all of this.
"""

from __future__ import annotations

import io
import json

from PIL import Image, PngImagePlugin

from contract.task import OutputFormat

_EXIF_IFD = 0x8769
_USER_COMMENT = 0x9286
_MAKER_NOTE = 0x927C
_SOFTWARE = 0x0131
_EXIF_KEYS = {"parameters", "fooocus_scheme"}
JPEG_QUALITY = 95
WEBP_QUALITY = 95


def _exif(metadata: dict[str, str]) -> Image.Exif:
    exif = Image.Exif()
    if not metadata:
        return exif
    text = metadata.get("parameters", "")
    if set(metadata) - _EXIF_KEYS or not text:
        text = json.dumps(metadata, ensure_ascii=False, sort_keys=True)
    exif[_USER_COMMENT] = text
    exif.get_ifd(_EXIF_IFD)[_USER_COMMENT] = b"UNICODE\x00" + text.encode("utf-16-be")
    exif[_SOFTWARE] = "remgo"
    if metadata.get("fooocus_scheme"):
        exif[_MAKER_NOTE] = metadata["fooocus_scheme"]
    return exif


def encode_image(image: Image.Image, fmt: OutputFormat | str, metadata: dict[str, str] | None = None) -> bytes:
    fmt = OutputFormat(fmt)
    metadata = metadata or {}
    if image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    buf = io.BytesIO()
    if fmt is OutputFormat.png:
        info = PngImagePlugin.PngInfo()
        for key, value in metadata.items():
            info.add_text(key, value)  # Pillow falls back to iTXt for text that is not Latin-1
        image.save(buf, format="PNG", pnginfo=info, compress_level=4)
    elif fmt is OutputFormat.jpeg:
        image.save(buf, format="JPEG", quality=JPEG_QUALITY, exif=_exif(metadata))
    else:
        image.save(buf, format="WEBP", quality=WEBP_QUALITY, exif=_exif(metadata))
    return buf.getvalue()
