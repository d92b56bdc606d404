"""Small WebP thumbnails, made on first request and cached on disk.

The cache lives in a hidden folder (never resolvable as an output) and mirrors the image's path, so
one thumbnail per image; a thumbnail older than its image is made again.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from PIL import Image

THUMB_MAX_SIDE = 256
THUMB_QUALITY = 80
CACHE_DIR_NAME = ".thumbs"


class Thumbnails:
    def __init__(self, cache_dir: Path, max_side: int = THUMB_MAX_SIDE) -> None:
        self.cache_dir = Path(cache_dir)
        self.max_side = max_side

    def cache_path(self, key: str) -> Path:
        """Where the thumbnail for `key` (a relative path already checked by the caller) is kept."""
        return self.cache_dir.joinpath(*key.split("/")).with_name(key.rsplit("/", 1)[-1] + ".webp")

    def get(self, source: Path, key: str) -> Path:
        """The cached thumbnail of `source`, made now if missing or stale."""
        target = self.cache_path(key)
        try:
            if target.stat().st_mtime_ns >= source.stat().st_mtime_ns:
                return target
        except FileNotFoundError:
            pass
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
        try:
            try:
                img = Image.open(source)
            except Image.DecompressionBombError as exc:  # kept to OSError/ValueError for callers
                raise ValueError(str(exc)) from None
            with img:
                img.draft("RGB", (self.max_side, self.max_side))  # JPEG decodes at a reduced scale
                img.thumbnail((self.max_side, self.max_side))
                thumb = img if img.mode in ("RGB", "RGBA") else img.convert("RGB")
                thumb.save(tmp, format="WEBP", quality=THUMB_QUALITY)
            os.replace(tmp, target)  # concurrent makers each write their own temp file
        finally:
            tmp.unlink(missing_ok=True)
        return target

    def drop(self, key: str) -> None:
        self.cache_path(key).unlink(missing_ok=True)
