"""NormalizeError: a request that cannot become tasks, naming the field (a JSON path) and close names."""

from __future__ import annotations

from orchestrator.common.field_error import FieldError


class NormalizeError(FieldError):
    """`field` is a JSON path into the request, e.g. `style_selections[2]` or `loras[0].name`."""
