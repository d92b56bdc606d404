"""Hires fix through the normalizer: the task keeps the first pass's size and carries the second pass (final
size by A1111's rules, steps 0 → the first pass's), progress counts both passes, the images' records and
metadata carry A1111's keys, and what it cannot run with is refused naming `hires_fix`."""

from __future__ import annotations

import json
import random

import msgspec
import pytest

from contract.request import GenerateRequest
from orchestrator.catalog import Catalog
from orchestrator.jobs.store import Normalized
from orchestrator.normalize import NormalizeError, normalize
from orchestrator.store.metadata import text as metadata
from tests.orchestrator.catalog.catalog_samples import catalog_dir
from tests.orchestrator.normalize.test_normalize_image_input import SHA_A, resolved


@pytest.fixture
def catalog(tmp_path) -> Catalog:
    return Catalog(catalog_dir(tmp_path))


def run(catalog: Catalog, inputs=None, **fields):
    body = {"prompt": "a harbour", "image_seed": 7, "image_number": 1, "aspect_ratios_selection": "832*1216",
            "performance_selection": "Speed", "overwrite_step": 20, **fields}
    return normalize(msgspec.convert(body, GenerateRequest), catalog, job_id="job", rng=random.Random(0),
                     inputs=inputs)


def test_the_task_runs_the_first_pass_and_carries_the_second(catalog):
    job = run(catalog, hires_fix={"scale": 1.5, "upscaler": "Latent (bicubic)", "denoise": 0.55})
    task = job.tasks[0]
    assert (task.width, task.height, task.steps) == (832, 1216, 20)
    fix = task.hires_fix()
    # 832 × 1.5 = 1248, 1216 × 1.5 = 1824 (both whole cells); steps 0 → the first pass's 20
    assert (fix.width, fix.height, fix.upscaled_width, fix.upscaled_height) == (1248, 1824, 1248, 1824)
    assert (fix.upscaler.value, fix.steps, fix.denoise) == ("Latent (bicubic)", 20, 0.55)
    assert task.output_size() == (1248, 1824)
    assert Normalized(tasks=job.tasks, images=job.images).steps_of(0) == 40  # progress: both passes


def test_a_plain_task_does_not_carry_the_field(catalog):
    job = run(catalog)
    assert "hires" not in msgspec.json.decode(msgspec.json.encode(job.tasks[0]))
    assert job.images[0].hires is None and job.tasks[0].steps_total() == 20


def test_the_record_and_both_metadata_schemes_carry_a1111s_keys(catalog):
    job = run(catalog, metadata_scheme="a1111", hires_fix={"resize_width": 1664, "steps": 8, "denoise": 0.4,
                                                           "upscaler": "Lanczos"})
    use = job.images[0].hires
    # resize x only: 1664 × 1216 // 832 = 2432
    assert (use.width, use.height, use.resize, use.scale, use.steps) == (1664, 2432, (1664, 0), None, 8)
    text = job.tasks[0].image_metadata[0]["parameters"]
    last = text.splitlines()[-1]
    assert "Size: 832x1216" in last and "Denoising strength: 0.4" in last and "Hires resize: 1664x0" in last
    assert "Hires steps: 8" in last and "Hires upscaler: Lanczos" in last
    assert metadata.parse(text).hires == use
    fooocus = metadata.embedded_text(job.images[0], "fooocus")["parameters"]
    assert json.loads(fooocus)["hires_size"] == "(1664, 2432)"
    assert metadata.parse(fooocus).hires == use


@pytest.mark.parametrize(("extra", "field"), [
    ({"hires_fix": {"scale": 4.0}}, "hires_fix.scale"),  # 1216 × 4 = 4864 > 4096
    ({"hires_fix": {"resize_width": 32}}, "hires_fix.resize_width"),  # 32 wide: under 64
])
def test_sizes_out_of_range_name_the_field(catalog, extra, field):
    with pytest.raises(NormalizeError) as err:
        run(catalog, **extra)
    assert err.value.field == field


def test_a_kernel_that_does_not_run_hires_gets_no_such_task(catalog):
    catalog.set_kernel_capabilities([], [], image_inputs=["vary"])
    with pytest.raises(NormalizeError) as err:
        run(catalog, hires_fix={})
    assert err.value.field == "hires_fix"
    catalog.set_kernel_capabilities([], [], image_inputs=["hires"])
    assert run(catalog, hires_fix={}).tasks[0].hires_fix() is not None


def test_an_asked_refiner_is_refused_by_name(catalog):
    with pytest.raises(NormalizeError) as err:
        run(catalog, hires_fix={}, refiner_model_name="realisticStockPhoto_v20.safetensors")
    assert err.value.field == "hires_fix" and "refiner" in err.value.message


def test_an_input_image_is_refused_by_name(catalog):
    with pytest.raises(NormalizeError) as err:
        run(catalog, {"uov_input_image": resolved(1024, 1024)}, hires_fix={}, uov_method="Vary (Subtle)",
            uov_input_image={"upload_id": SHA_A})
    assert err.value.field == "hires_fix" and "text to image" in err.value.message
