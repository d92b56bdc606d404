"""The SDXL refiner architecture in normalization: a refiner only, after an SDXL base; never a base."""

from __future__ import annotations

import random

import msgspec
import pytest

from contract.request import GenerateRequest
from orchestrator.catalog import Catalog, ModelKind
from orchestrator.normalize import NormalizeError, normalize
from tests.orchestrator.catalog.catalog_samples import (
    REFINER_SHAPES,
    SD15_SHAPES,
    SDXL_SHAPES,
    catalog_dir,
    safetensors_with,
)

REFINER = "sd_xl_refiner_1.0.safetensors"


def _catalog(tmp_path, preset_base: str | None = None) -> Catalog:
    root = catalog_dir(tmp_path)
    models = root / "models" / "checkpoints"
    safetensors_with(models / REFINER, REFINER_SHAPES)
    safetensors_with(models / "dreamshaper_8.safetensors", SD15_SHAPES)
    safetensors_with(models / "juggernautXL_v8Rundiffusion.safetensors", SDXL_SHAPES)
    if preset_base is not None:  # the default preset names a refiner-architecture file as its model
        preset = root / "presets" / "default.json"
        preset.write_text(preset.read_text().replace("juggernautXL_v8Rundiffusion.safetensors", preset_base))
    return Catalog(root)


def _run(catalog: Catalog, **fields):
    return normalize(msgspec.convert(fields, GenerateRequest), catalog, job_id="job", rng=random.Random(0))


def test_it_is_listed_as_the_sdxl_refiner_and_runs_after_an_sdxl_base(tmp_path):
    catalog = _catalog(tmp_path)
    assert catalog.snapshot().models[ModelKind.checkpoints][REFINER].architecture == "sdxl_refiner"
    job = _run(catalog, prompt="a", base_model_name="juggernautXL_v8Rundiffusion.safetensors",
               refiner_model_name=REFINER)
    assert job.tasks[0].refiner.name == REFINER


@pytest.mark.parametrize(("fields", "field", "words"), [
    ({"base_model_name": REFINER}, "base_model_name", "refiner-architecture"),
    ({"base_model_name": "dreamshaper_8.safetensors", "refiner_model_name": REFINER}, "refiner_model_name",
     "SD 1.5"),
])
def test_the_client_is_told_where_it_does_not_fit(tmp_path, fields, field, words):
    with pytest.raises(NormalizeError) as err:
        _run(_catalog(tmp_path), prompt="a", **fields)
    assert err.value.field == field and words in err.value.message


def test_a_preset_naming_it_as_its_model_is_fitted_once_at_the_scan(tmp_path):
    """Like a preset's missing checkpoint: replaced when the catalog is read, said once, never per job."""
    catalog = _catalog(tmp_path, preset_base=REFINER)
    notes = catalog.preset("default").adjustments
    assert any(REFINER in n and "refiner-architecture" in n and "the first checkpoint found" in n for n in notes)
    job = _run(catalog, prompt="a")
    assert job.tasks[0].base_model.name != REFINER and not any(REFINER in w for w in job.warnings)
