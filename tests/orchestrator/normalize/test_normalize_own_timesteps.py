"""AUTOMATIC1111's own timestep schedules (`a1111_ddim`, `a1111_unipc`) through the normalizer: a sampler,
scheduler or step count they do not run with, or an input image, is a 400 naming the request field before the job
is queued (the worker would refuse it too, later)."""

from __future__ import annotations

import random

import msgspec
import pytest

from contract.request import GenerateRequest
from orchestrator.catalog import Catalog
from orchestrator.normalize import NormalizeError, normalize
from tests.orchestrator.catalog.catalog_samples import catalog_dir
from tests.orchestrator.normalize.test_normalize_image_input import resolved


@pytest.fixture(scope="module")
def catalog(tmp_path_factory) -> Catalog:
    return Catalog(catalog_dir(tmp_path_factory.mktemp("own_timesteps")))


def run(catalog: Catalog, inputs=None, **fields):
    body = {"prompt": "a lighthouse", "style_selections": [], "refiner_model_name": "None", **fields}
    for name in inputs or {}:
        body.setdefault(name, {"upload_id": inputs[name].sha256})
    return normalize(msgspec.convert(body, GenerateRequest), catalog, job_id="j", rng=random.Random(0), inputs=inputs)


@pytest.mark.parametrize(("sampler", "scheduler", "steps"), [
    ("ddim", "a1111_ddim", 4), ("euler_ancestral", "a1111_ddim", 4), ("plms", "a1111_ddim", 2),
    ("uni_pc", "a1111_unipc", 3),
])
def test_the_pairs_a1111_runs_pass(catalog, sampler, scheduler, steps):
    task = run(catalog, sampler_name=sampler, scheduler_name=scheduler, overwrite_step=steps).tasks[0]
    assert (task.sampler.value, task.scheduler.value, task.steps) == (sampler, scheduler, steps)


@pytest.mark.parametrize(("fields", "field"), [
    ({"sampler_name": "euler", "scheduler_name": "a1111_ddim"}, "scheduler_name"),
    ({"sampler_name": "plms", "scheduler_name": "karras"}, "sampler_name"),
    ({"sampler_name": "uni_pc", "scheduler_name": "a1111_unipc", "overwrite_step": 2}, "overwrite_step"),
    ({"sampler_name": "ddim", "scheduler_name": "a1111_ddim", "overwrite_step": 1}, "overwrite_step"),
    ({"sampler_name": "ddim", "scheduler_name": "a1111_ddim", "hires_fix": {"scale": 1.5}}, "hires_fix"),
])
def test_what_they_do_not_run_is_refused_naming_the_field(catalog, fields, field):
    with pytest.raises(NormalizeError) as err:
        run(catalog, **fields)
    assert err.value.field == field


def test_an_input_image_is_refused_with_them(catalog):
    with pytest.raises(NormalizeError) as err:
        run(catalog, {"uov_input_image": resolved(1024, 1024)}, uov_method="Vary (Subtle)", sampler_name="ddim",
            scheduler_name="a1111_ddim")
    assert err.value.field == "scheduler_name"
