"""CatalogError: a name the catalog cannot resolve, with the closest names it knows."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from orchestrator.common.field_error import FieldError


def close_matches(name: str, known: Iterable[str], limit: int = 5) -> list[str]:
    """Closest known names, case-insensitively, in their real spelling."""
    by_folded: dict[str, str] = {}
    for k in known:
        by_folded.setdefault(k.casefold(), k)
    hits = difflib.get_close_matches(name.casefold(), list(by_folded), n=limit, cutoff=0.6)
    return [by_folded[h] for h in hits]


class CatalogError(FieldError):
    """A name the catalog cannot resolve; `field` is a request field or a catalog kind."""
