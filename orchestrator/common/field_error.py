"""FieldError: a value the orchestrator refuses, naming the field to blame and the closest valid names."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class FieldError(ValueError):
    """`field` names what was wrong (a JSON path into a request, or a catalog kind); `suggestions` are close names."""

    def __init__(self, field: str, message: str, suggestions: Iterable[str] = ()) -> None:
        self.field = field
        self.message = message
        self.suggestions = list(suggestions)
        text = f"{field}: {message}"
        if self.suggestions:
            text += f" (did you mean {', '.join(self.suggestions)}?)"
        super().__init__(text)

    def to_dict(self) -> dict:
        return {"field": self.field, "message": self.message, "suggestions": self.suggestions}


def close_matches(name: str, known: Iterable[str], limit: int = 5) -> list[str]:
    """Closest known names, case-insensitively, in their real spelling."""
    by_folded: dict[str, str] = {}
    for k in known:
        by_folded.setdefault(k.casefold(), k)
    hits = difflib.get_close_matches(name.casefold(), list(by_folded), n=limit, cutoff=0.6)
    return [by_folded[h] for h in hits]
