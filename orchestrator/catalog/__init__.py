"""What remgo can generate with: models on disk, styles, presets, wildcards, sizes, performance modes."""

from orchestrator.catalog.catalog import Catalog, CatalogSnapshot
from orchestrator.catalog.errors import CatalogError, close_matches
from orchestrator.catalog.models import ModelFile, ModelKind
from orchestrator.catalog.presets import Preset
from orchestrator.catalog.styles import PROMPT_EXPANSION, RANDOM_STYLE, Style, normalize_style_name

__all__ = [
    "PROMPT_EXPANSION",
    "RANDOM_STYLE",
    "Catalog",
    "CatalogError",
    "CatalogSnapshot",
    "ModelFile",
    "ModelKind",
    "Preset",
    "Style",
    "close_matches",
    "normalize_style_name",
]
