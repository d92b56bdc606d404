"""A model file named in a task; its own module so every part of the contract can name one."""

from __future__ import annotations

import msgspec


class ModelRef(msgspec.Struct, frozen=True, kw_only=True):
    """A model file the worker can open: `name` is the catalog name, `path` is absolute on the worker."""

    name: str
    path: str
    sha256: str | None = None
