"""CatalogError: a name the catalog cannot resolve, with the closest names it knows."""

from __future__ import annotations

from orchestrator.common.field_error import FieldError


class CatalogError(FieldError):
    """A name the catalog cannot resolve; `field` is a request field or a catalog kind."""
