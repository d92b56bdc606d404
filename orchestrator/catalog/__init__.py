"""What remgo can generate with: models on disk, styles, presets, wildcards, sizes, performance modes."""

from orchestrator.catalog.catalog import Catalog
from orchestrator.catalog.snapshot import CatalogSnapshot
from orchestrator.catalog.errors import CatalogError
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
    "normalize_style_name",
]
