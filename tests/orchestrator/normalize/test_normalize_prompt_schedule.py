"""A prompt schedule through the normalizer: its entries become the task's (chunks as a prompt's lines), the
task's prompts are the first entry's, the images record `prompt` as written, `<lora:…>` tags are read from
`prompt` only; what it cannot run with is refused by name, as is a schedule that does not cover the steps."""

from __future__ import annotations

import random

import msgspec
import pytest

from contract.request import GenerateRequest
from contract.task import GenerateTask
from orchestrator.catalog import Catalog
from orchestrator.normalize import NormalizeError, normalize
from orchestrator.store.metadata import text as metadata
from tests.orchestrator.catalog.catalog_samples import catalog_dir

SCHEDULE = [{"until_step": 10, "prompt": "a cat ,, on a mat\nsecond line", "negative_prompt": "ugly"},
            {"until_step": 20, "prompt": "a dog", "negative_prompt": ""}]


@pytest.fixture
def catalog(tmp_path) -> Catalog:
    return Catalog(catalog_dir(tmp_path))


def run(catalog: Catalog, **fields):
    body = {"prompt": "a [cat:dog:0.5]", "image_seed": 7, "style_selections": [], "overwrite_step": 20,
            "refiner_model_name": "None", "prompt_schedule": SCHEDULE, **fields}
    return normalize(msgspec.convert(body, GenerateRequest), catalog, job_id="job", rng=random.Random(0))


def test_the_entries_become_the_tasks_schedule(catalog):
    job = run(catalog)
    task = job.tasks[0]
    assert [(e.until_step, e.positive, e.negative) for e in task.schedule()] == [
        (10, ["a cat, on a mat", "second line"], ["ugly"]), (20, ["a dog"], [""])]
    assert (task.positive, task.negative) == (["a cat, on a mat", "second line"], ["ugly"])
    assert job.images[0].prompt == "a [cat:dog:0.5]"  # as written
    msgspec.json.decode(msgspec.json.encode(task), type=GenerateTask)  # a worker reads it back


@pytest.mark.parametrize("scheme", ["fooocus", "a1111"])
def test_both_metadata_schemes_keep_the_prompt_as_written(catalog, scheme):
    job = run(catalog, metadata_scheme=scheme, save_metadata_to_images=True,
              negative_prompt="[ugly|blurry]")
    embedded = job.tasks[0].image_metadata[0]
    text = embedded.get("parameters") or next(iter(embedded.values()))
    back = metadata.parse(text)
    assert (back.prompt, back.negative_prompt) == ("a [cat:dog:0.5]", "[ugly|blurry]")


def test_without_a_schedule_the_task_does_not_carry_the_field(catalog):
    job = run(catalog, prompt_schedule=None)
    assert "prompt_schedule" not in msgspec.json.decode(msgspec.json.encode(job.tasks[0]))


@pytest.mark.parametrize(("fields", "field"), [
    ({"style_selections": ["Fooocus V2"]}, "style_selections"),
    ({"overwrite_step": 30}, "prompt_schedule"),  # the last entry covers 20 steps
    ({"prompt_schedule": [{"until_step": 20, "prompt": "a <lora:x:1> cat"}]}, "prompt_schedule[0].prompt"),
    ({"prompt_schedule": [{"until_step": 20, "negative_prompt": "__colors__"}]}, "prompt_schedule[0].negative_prompt"),
    ({"prompt_schedule": [{"until_step": 20}, {"until_step": 20}]}, "prompt_schedule"),
    ({"hires_fix": {"scale": 1.5}}, "prompt_schedule"),
])
def test_what_it_cannot_run_is_refused_by_name(catalog, fields, field):
    with pytest.raises(NormalizeError) as err:
        run(catalog, **fields)
    assert err.value.field == field


def test_a_kernel_that_does_not_run_schedules_gets_no_such_task(catalog):
    catalog.set_kernel_capabilities([], [], image_inputs=["vary", "tiling"])
    with pytest.raises(NormalizeError) as err:
        run(catalog)
    assert err.value.field == "prompt_schedule"
