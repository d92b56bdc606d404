"""`embedding:<name>` in any chunk puts that textual-inversion file into the task; an unknown name is refused."""

from __future__ import annotations

import random

import msgspec
import pytest

from contract.request import GenerateRequest
from orchestrator.catalog import Catalog
from orchestrator.normalize import NormalizeError, normalize
from tests.orchestrator.catalog.catalog_samples import STANDARD_MODELS, catalog_dir

MODELS = {
    **STANDARD_MODELS,
    "embeddings": ["unaestheticXL.safetensors", "sub/style.safetensors", "other.safetensors"],
}


@pytest.fixture(scope="module")
def catalog(tmp_path_factory) -> Catalog:
    return Catalog(catalog_dir(tmp_path_factory.mktemp("embeddings"), models=MODELS))


def run(catalog: Catalog, **fields):
    fields.setdefault("image_seed", 11)
    fields.setdefault("style_selections", [])
    fields.setdefault("image_number", 1)
    return normalize(msgspec.convert(fields, GenerateRequest), catalog, job_id="job", rng=random.Random(0))


def test_only_the_named_files_travel(catalog):
    job = run(
        catalog,
        prompt="a cat embedding:sub/style, oil\nsecond embedding:sub/style.safetensors",
        negative_prompt="embedding:unaestheticXL.",
    )
    [task] = job.tasks
    assert [e.name for e in task.embeddings] == ["sub/style.safetensors", "unaestheticXL.safetensors"]
    assert all(e.path.endswith(e.name) for e in task.embeddings)
    assert run(catalog, prompt="a cat").tasks[0].embeddings == []


def test_an_unknown_embedding_names_its_prompt(catalog):
    with pytest.raises(NormalizeError) as exc:
        run(catalog, prompt="a cat", negative_prompt="embedding:unaesthetic")
    assert exc.value.field == "negative_prompt" and "unaestheticXL" in exc.value.suggestions
    with pytest.raises(NormalizeError) as exc:
        run(catalog, prompt="embedding:nothing-like-it")
    assert exc.value.field == "prompt"
