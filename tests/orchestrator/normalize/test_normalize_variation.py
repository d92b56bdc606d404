"""AUTOMATIC1111's variation seeds through the normalizer: image i gets the variation seed + i (A1111's
`all_subseeds`), -1 draws one, strength 0 is off (no `variation` in the task), and both metadata schemes record
and read back the seed and strength (A1111's `Variation seed` / `Variation seed strength` keys)."""

from __future__ import annotations

import random

import msgspec
import pytest

from contract.request import GenerateRequest
from orchestrator.catalog import Catalog
from orchestrator.normalize import NormalizeError, normalize
from orchestrator.store.metadata import text as metadata
from tests.orchestrator.catalog.catalog_samples import catalog_dir


@pytest.fixture(scope="module")
def catalog(tmp_path_factory) -> Catalog:
    return Catalog(catalog_dir(tmp_path_factory.mktemp("variation")))


def run(catalog: Catalog, **fields):
    body = {"prompt": "a lighthouse", "style_selections": [], "image_number": 3, "image_seed": 5, **fields}
    return normalize(msgspec.convert(body, GenerateRequest), catalog, job_id="j", rng=random.Random(0))


def test_each_image_gets_the_next_variation_seed(catalog):
    job = run(catalog, variation_seed=100, variation_strength=0.3)
    (task,) = job.tasks
    assert task.seeds == [5, 6, 7] and task.variation.seeds == [100, 101, 102] and task.variation.strength == 0.3
    assert [img.variation for img in job.images] == [(100, 0.3), (101, 0.3), (102, 0.3)]


def test_minus_one_draws_a_seed_and_strength_zero_is_off(catalog):
    drawn = run(catalog, variation_strength=0.5).tasks[0].variation.seeds
    assert drawn[0] >= 0 and drawn[1:] == [drawn[0] + 1, drawn[0] + 2]
    off = run(catalog, variation_seed=100, variation_strength=0.0)
    assert "variation" not in msgspec.json.decode(msgspec.json.encode(off.tasks[0]))
    assert off.images[0].variation is None


@pytest.mark.parametrize("scheme", ["fooocus", "a1111"])
def test_both_schemes_record_and_read_back_the_variation(catalog, scheme):
    job = run(catalog, variation_seed=100, variation_strength=0.25, metadata_scheme=scheme,
              save_metadata_to_images=True)
    embedded = job.tasks[0].image_metadata[1]
    text = embedded.get("parameters") or next(iter(embedded.values()))
    if scheme == "a1111":
        assert "Variation seed: 101, Variation seed strength: 0.25" in text
    assert metadata.parse(text).variation == (101, 0.25)


def test_a_kernel_without_variation_seeds_gets_no_such_task(catalog):
    catalog.set_kernel_capabilities([], [], image_inputs=["vary"])
    try:
        with pytest.raises(NormalizeError) as err:
            run(catalog, variation_seed=1, variation_strength=0.5)
        assert err.value.field == "variation_strength"
    finally:
        catalog.set_kernel_capabilities([], [], None)
