"""Seamless tiling through the normalizer: into the task only when on (a plain task's JSON stays as it was),
into each image's record and metadata, and refused by name when the workers' kernel does not run it."""

from __future__ import annotations

import json
import random

import msgspec
import pytest

from contract.request import GenerateRequest
from orchestrator.catalog import Catalog
from orchestrator.normalize import NormalizeError, normalize
from tests.orchestrator.catalog.catalog_samples import catalog_dir


@pytest.fixture
def catalog(tmp_path) -> Catalog:
    return Catalog(catalog_dir(tmp_path))


def run(catalog: Catalog, **fields):
    request = msgspec.convert({"prompt": "a brick wall", "image_seed": 7, **fields}, GenerateRequest)
    return normalize(request, catalog, job_id="job", rng=random.Random(0))


def test_tiling_reaches_the_task_the_record_and_the_metadata(catalog):
    job = run(catalog, tiling=True)
    task = msgspec.to_builtins(job.tasks[0])
    assert task["tiling"] is True
    assert all(image.tiling for image in job.images)
    assert json.loads(job.tasks[0].image_metadata[0]["parameters"])["tiling"] is True
    assert job.request.tiling is True


@pytest.mark.parametrize("given", [{}, {"tiling": False}])
def test_without_tiling_the_task_does_not_carry_the_field(catalog, given):
    job = run(catalog, **given)
    assert "tiling" not in msgspec.json.decode(msgspec.json.encode(job.tasks[0]))
    assert not any(image.tiling for image in job.images)
    assert job.request.tiling is False  # the built-in default, recorded


def test_a_kernel_that_does_not_run_tiling_gets_no_such_task(catalog):
    catalog.set_kernel_capabilities([], [], image_inputs=["vary", "upscale", "inpaint"])
    with pytest.raises(NormalizeError) as err:
        run(catalog, tiling=True)
    assert err.value.field == "tiling"
    run(catalog)  # the rest still runs
    catalog.set_kernel_capabilities([], [], image_inputs=["vary", "tiling"])
    assert run(catalog, tiling=True).tasks[0].seamless()
