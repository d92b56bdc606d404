"""NormalizeError: a request that cannot become tasks, naming the field (a JSON path) and close names."""

from __future__ import annotations

from collections.abc import Iterable


class NormalizeError(ValueError):
    """`field` is a JSON path into the request, e.g. `style_selections[2]` or `loras[0].name`."""

    def __init__(self, field: str, message: str, suggestions: Iterable[str] = ()) -> None:
        self.field = field
        self.message = message
        self.suggestions = list(suggestions)
        text = f"{field}: {message}"
        if self.suggestions:
            text += f" (did you mean: {', '.join(self.suggestions)}?)"
        super().__init__(text)

    def to_dict(self) -> dict:
        return {"field": self.field, "message": self.message, "suggestions": self.suggestions}
