"""A prompt schedule through the normalizer: its entries become the task's (chunks as a prompt's lines), the
task's prompts are the first entry's, the images record `prompt` as written, `<lora:…>` tags are read from
`prompt` only; what it cannot run with is refused by name, as is a schedule that does not cover the steps."""

from __future__ import annotations

import random

import msgspec
import pytest

from contract.image_input import Inpaint, Vary
from contract.request import GenerateRequest
from contract.task import GenerateTask
from orchestrator.catalog import Catalog
from orchestrator.normalize import NormalizeError, normalize
from orchestrator.store.metadata import text as metadata
from tests.orchestrator.catalog.catalog_samples import SD15_SHAPES, SDXL_SHAPES, catalog_dir, safetensors_with
from tests.orchestrator.normalize.test_normalize_image_input import SHA_B, fails, resolved
from tests.orchestrator.normalize.test_normalize_image_input import run as run_with_image

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
    ({"hires_fix": {"scale": 1.5}}, "hires_fix.prompt_schedule"),  # the second pass needs its own
    ({"hires_fix": {"scale": 1.5, "steps": 8, "prompt_schedule": [{"until_step": 6}]}}, "hires_fix.prompt_schedule"),
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


# AUTOMATIC1111's img2img counts a schedule's steps from the first step it runs: Vary and A1111's inpainting.
VARY = {"uov_input_image": resolved(1024, 1024)}
INPAINT = {"inpaint_input_image": resolved(640, 384), "inpaint_mask_image": resolved(640, 384, SHA_B)}
WITH_IMAGE = {"prompt": "a [cat:dog:0.5]", "style_selections": [], "overwrite_step": 20, "refiner_model_name": "None",
              "prompt_schedule": SCHEDULE}


@pytest.mark.parametrize(("inputs", "fields", "method"), [
    (VARY, {"uov_method": "Vary (Strong)"}, Vary),
    (INPAINT, {"inpaint_a1111": {}, "inpaint_strength": 0.75}, Inpaint),
])
def test_a_schedule_goes_with_a1111s_img2img(catalog, inputs, fields, method):
    job = run_with_image(catalog, inputs, **WITH_IMAGE, **fields)
    task = job.tasks[0]
    assert isinstance(task.method(), method) and [e.until_step for e in task.schedule()] == [10, 20]
    assert task.steps == 20  # the schedule spans the steps that run
    msgspec.json.decode(msgspec.json.encode(task), type=GenerateTask)


@pytest.mark.parametrize(("inputs", "fields", "field"), [
    (VARY, {"uov_method": "Upscale (1.5x)", "upscale_fallback": True}, "prompt_schedule"),
    (INPAINT, {}, "prompt_schedule"),  # Fooocus's inpainting
    (INPAINT, {"inpaint_a1111": {}, "inpaint_additional_prompt": "red"}, "inpaint_additional_prompt"),
])
def test_other_input_images_are_refused_with_a_schedule(catalog, inputs, fields, field):
    assert fails(catalog, inputs, **WITH_IMAGE, **fields).field == field


def test_a_worker_refuses_a_schedule_with_upscale():
    image = {"data": b"x", "sha256": "a" * 64, "width": 64, "height": 64}
    task = {"task_id": "t", "base_model": {"name": "m", "path": "/m"}, "width": 128, "height": 128, "seeds": [1],
            "steps": 2, "positive": ["a"], "negative": [""],
            "image_input": {"method": "upscale", "image": image, "denoise": 0.382},
            "prompt_schedule": [{"until_step": 2, "positive": ["a"], "negative": [""]}]}
    with pytest.raises(msgspec.ValidationError, match=r"prompt_schedule"):
        msgspec.convert(task, GenerateTask)
    task["image_input"] = {"method": "vary", "image": image, "denoise": 0.5}
    assert msgspec.convert(task, GenerateTask).schedule()


def test_styles_wrap_each_entry_as_they_wrap_a_prompt(catalog):
    """A1111 applies a style to the prompt before reading its editing syntax: each entry is the styled prompt
    of its variant, which is the same style applied to that variant as a plain prompt."""
    job = run(catalog, style_selections=["Remgo Sharp"])
    entries = job.tasks[0].schedule()
    for entry, variant in zip(entries, SCHEDULE, strict=True):
        plain = run(catalog, style_selections=["Remgo Sharp"], prompt=variant["prompt"],
                    negative_prompt=variant["negative_prompt"], prompt_schedule=None).tasks[0]
        assert (entry.positive, entry.negative) == (plain.positive, plain.negative)
    assert entries[1].positive[0].startswith("a dog, crisp focus")
    assert (job.tasks[0].positive, job.tasks[0].negative) == (entries[0].positive, entries[0].negative)


def test_hires_fix_takes_its_second_passs_own_schedule(catalog):
    """A1111 schedules its hires pass anew over that pass's steps: the request's `hires_fix.prompt_schedule`
    becomes the task's `hires.prompt_schedule`, styled as the first pass's entries are."""
    second = [{"until_step": 4, "prompt": "a cat", "negative_prompt": "ugly"},
              {"until_step": 8, "prompt": "a dog", "negative_prompt": "ugly"}]
    job = run(catalog, style_selections=["Remgo Sharp"],
              hires_fix={"scale": 1.5, "steps": 8, "prompt_schedule": second})
    task = job.tasks[0]
    entries = task.hires_fix().schedule()
    assert [e.until_step for e in entries] == [4, 8] and task.hires_fix().steps == 8
    assert entries[1].positive[0].startswith("a dog, crisp focus")
    assert [e.until_step for e in task.schedule()] == [10, 20]
    msgspec.json.decode(msgspec.json.encode(task), type=GenerateTask)
    alone = run(catalog, prompt_schedule=None, hires_fix={"scale": 1.5, "steps": 8, "prompt_schedule": second})
    assert alone.tasks[0].schedule() is None and alone.tasks[0].hires_fix().schedule()


def test_a_joint_refiner_continues_the_schedule(catalog):
    """A1111's refiner takes over inside the same run and its evaluations go on reading the schedule: a refiner
    swapped jointly is kept with it; another swap, or a refiner of another latent space, is refused by name."""
    job = run(catalog, refiner_model_name="realisticStockPhoto_v20.safetensors", refiner_swap_method="joint")
    task = job.tasks[0]
    assert task.refiner.name == "realisticStockPhoto_v20.safetensors" and task.schedule()
    with pytest.raises(NormalizeError) as err:
        run(catalog, refiner_model_name="realisticStockPhoto_v20.safetensors", refiner_swap_method="vae")
    assert err.value.field == "refiner_swap_method"


def test_a_refiner_of_another_latent_space_is_refused_with_a_schedule(tmp_path):
    root = catalog_dir(tmp_path)
    safetensors_with(root / "models" / "checkpoints" / "dreamshaper_8.safetensors", SD15_SHAPES)
    safetensors_with(root / "models" / "checkpoints" / "juggernautXL_v8Rundiffusion.safetensors", SDXL_SHAPES)
    with pytest.raises(NormalizeError) as err:
        run(Catalog(root), base_model_name="juggernautXL_v8Rundiffusion.safetensors",
            refiner_model_name="dreamshaper_8.safetensors")
    assert err.value.field == "refiner_model_name"
