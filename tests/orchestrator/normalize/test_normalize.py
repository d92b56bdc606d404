"""Normalization of the request's knobs: precedence, models, performance modes, sizes, seeds, tasks, metadata."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import msgspec
import pytest

from contract.request import GenerateRequest
from contract.task import MAX_SEED, GenerateTask
from orchestrator.catalog import Catalog
from orchestrator.normalize import NormalizeError, normalize
from orchestrator.store.metadata import text as metadata
from tests.orchestrator.catalog.catalog_samples import (
    SD15_LORA_SHAPES,
    SD15_SHAPES,
    SDXL_LORA_SHAPES,
    SDXL_SHAPES,
    STANDARD_MODELS,
    catalog_dir,
    safetensors_with,
)


@pytest.fixture(scope="module")
def catalog(tmp_path_factory) -> Catalog:
    return Catalog(catalog_dir(tmp_path_factory.mktemp("norm")))


@pytest.fixture
def fresh(tmp_path) -> Catalog:
    return Catalog(catalog_dir(tmp_path))


def run(catalog: Catalog, rng_seed: int = 0, **fields):
    request = msgspec.convert(fields, GenerateRequest)  # as the HTTP boundary decodes it
    return normalize(request, catalog, job_id="job", rng=random.Random(rng_seed))


def fails(catalog: Catalog, **fields) -> NormalizeError:
    with pytest.raises(NormalizeError) as err:
        run(catalog, **fields)
    return err.value


def test_an_empty_request_gets_the_default_preset(catalog):
    job = run(catalog, prompt="a lighthouse")
    assert len(job.images) == 2 and len(job.tasks) == 1
    task = job.tasks[0]
    assert task.task_id == "job-0" and len(task.seeds) == 2 and task.seeds[1] == task.seeds[0] + 1
    assert (task.width, task.height, task.steps) == (1152, 896, 30)
    assert (task.sampler.value, task.scheduler.value, task.guidance_scale, task.sharpness) == (
        "dpmpp_2m_sde_gpu", "karras", 4.0, 2.0)
    assert (task.adaptive_cfg, task.clip_skip, task.refiner, task.vae) == (7.0, 2, None, None)
    assert (task.adm.positive, task.adm.negative, task.adm.end) == (1.5, 0.8, 0.3)
    assert task.base_model.name == "juggernautXL_v8Rundiffusion.safetensors"
    assert [(lo.name, lo.weight) for lo in task.loras] == [("sd_xl_offset_example-lora_1.0.safetensors", 0.1)]
    # Fooocus V2 is left out once, when the preset is fitted to the install: no job repeats it.
    assert job.images[0].styles == ["Fooocus Enhance", "Fooocus Sharp"] and job.warnings == []
    assert job.request.preset == "default" and job.request.image_seed == task.seeds[0]


def test_request_beats_preset_beats_builtin(catalog):
    job = run(catalog, prompt="x", preset="realistic", guidance_scale=6.5)
    task, image = job.tasks[0], job.images[0]
    assert task.guidance_scale == 6.5  # the request
    assert task.base_model.name == "realisticStockPhoto_v20.safetensors"  # the preset
    assert (task.width, task.height) == (896, 1152)  # the preset
    assert task.adaptive_cfg == 7.0 and len(job.images) == 2  # built-in defaults
    assert image.styles == ["Fooocus Photograph", "Fooocus Negative"]
    assert image.negative_prompt.startswith("painting, illustration")  # preset's default_prompt_negative
    assert task.loras == []  # the preset's empty list replaces the default preset's LoRA


def test_a_preset_overlays_the_default_preset(catalog):
    job = run(catalog, prompt="x", preset="lightning")
    task = job.tasks[0]
    assert (task.width, task.height, len(job.images), task.steps) == (1024, 1024, 4, 4)  # lightning.json
    assert task.base_model.name == "juggernautXL_v8Rundiffusion.safetensors"  # default.json
    assert [lo.name for lo in task.loras] == ["sd_xl_offset_example-lora_1.0.safetensors",
                                              "sdxl_lightning_4step_lora.safetensors"]


def test_a_bad_preset_value_falls_back_and_says_which_preset(tmp_path):
    root = catalog_dir(tmp_path)
    (root / "presets" / "odd.json").write_text(
        '{"default_styles": ["Fooocus Sharp", "Gone Style"], "default_vae": "missing.safetensors",'
        ' "default_aspect_ratio": "999*999"}')
    job = run(Catalog(root), prompt="x", preset="odd")
    assert job.images[0].styles == ["Fooocus Sharp"] and job.tasks[0].vae is None
    assert (job.tasks[0].width, job.tasks[0].height) == (1152, 896)
    text = "\n".join(job.warnings)
    # What the install lacks was fitted at the scan; a job that chose the preset is told.
    assert "preset 'odd': style Gone Style is not installed; left out" in text
    assert "preset 'odd': VAE missing.safetensors is not installed" in text
    assert "preset 'odd': aspect_ratios_selection:" in text


def test_unknown_preset_names_the_field(catalog):
    err = fails(catalog, preset="realstic")
    assert err.field == "preset" and err.suggestions[0] == "realistic"


def test_missing_default_preset_falls_back_to_builtin_defaults(catalog):
    job = normalize(GenerateRequest(prompt="x"), catalog, job_id="j", default_preset="gone", rng=random.Random(1))
    assert "default preset 'gone' not found; built-in defaults used" in job.warnings
    assert job.tasks[0].guidance_scale == 4.0 and job.request.preset is None


def test_preset_model_missing_falls_back_with_a_warning(tmp_path):
    models = {**STANDARD_MODELS, "checkpoints": ["zeta.safetensors", "juggernautXL_version7Rundiffusion.safetensors"]}
    catalog = Catalog(catalog_dir(tmp_path, models=models))
    job = run(catalog, prompt="x")  # the preset's earlier defaults are tried first
    assert job.tasks[0].base_model.name == "juggernautXL_version7Rundiffusion.safetensors"
    # The default preset's fallback is said once (the catalog's fitting report), not by each job.
    assert job.warnings == []
    assert any("earlier default" in line for line in catalog.fitting_report("default"))
    job = run(catalog, prompt="x", preset="anime")  # a preset chosen for the job: its fallback is told
    assert job.tasks[0].base_model.name == "juggernautXL_version7Rundiffusion.safetensors"
    assert ("preset 'anime': checkpoint animaPencilXL_v500.safetensors is not installed; "
            "juggernautXL_version7Rundiffusion.safetensors (the first checkpoint found) is used") in job.warnings


def test_no_checkpoint_at_all_is_an_error(tmp_path):
    catalog = Catalog(catalog_dir(tmp_path, models={}))
    err = fails(catalog, prompt="x")
    assert err.field == "base_model_name" and "no checkpoint found" in err.message


def test_unknown_request_model_is_an_error_not_a_fallback(catalog):
    err = fails(catalog, base_model_name="juggernautXL_v8.safetensors")
    assert err.field == "base_model_name"
    assert "juggernautXL_v8Rundiffusion.safetensors" in err.suggestions
    err = fails(catalog, base_model_name="../juggernautXL_v8Rundiffusion.safetensors")
    assert "refused" in err.message


def test_refiner_and_vae(catalog):
    job = run(catalog, refiner_model_name="realisticStockPhoto_v20.safetensors", refiner_switch=0.7,
              vae_name="sdxl_vae.safetensors", refiner_swap_method="separate")
    task = job.tasks[0]
    assert task.refiner.name == "realisticStockPhoto_v20.safetensors" and task.refiner_switch == 0.7
    assert task.vae.name == "sdxl_vae.safetensors" and task.refiner_swap_method.value == "separate"
    assert Path(task.refiner.path).is_absolute() and Path(task.vae.path).is_file()
    same = run(catalog, refiner_model_name="juggernautXL_v8Rundiffusion.safetensors")
    assert same.tasks[0].refiner is None and "refiner is the base model; refiner not used" in same.warnings
    none = run(catalog, refiner_model_name="None", vae_name="Default (model)", refiner_switch=0.6)
    assert none.tasks[0].refiner is None and none.tasks[0].vae is None
    assert "refiner_switch has no effect without a refiner" in none.warnings
    assert fails(catalog, vae_name="sdxl-vae.safetensors").suggestions == ["sdxl_vae.safetensors"]


def test_loras_triples_objects_disabled_and_none(catalog):
    job = run(catalog, loras=[[True, "film_grain_xl.safetensors", 0.4], [False, "missing.safetensors", 1.0],
                              [True, "None", 1.0], {"name": "detail/add-detail-xl.safetensors", "weight": -0.5}])
    assert [(lo.name, lo.weight) for lo in job.tasks[0].loras] == [
        ("film_grain_xl.safetensors", 0.4), ("detail/add-detail-xl.safetensors", -0.5)]
    assert fails(catalog, loras=[[True, "nope.safetensors", 1.0]]).field == "loras[0][1]"
    assert fails(catalog, loras=[{"name": "a"}, {"name": "film_grainxl.safetensors"}]).field == "loras[0].name"
    err = fails(catalog, loras=[{"name": "film_grainxl.safetensors"}])
    assert err.field == "loras[0].name" and err.suggestions == ["film_grain_xl.safetensors"]


@pytest.mark.parametrize(
    ("performance", "steps", "sampler", "scheduler", "lora", "weight"),
    [
        ("Quality", 60, "dpmpp_2m_sde_gpu", "karras", None, None),
        ("Speed", 30, "dpmpp_2m_sde_gpu", "karras", None, None),
        ("Extreme Speed", 8, "lcm", "lcm", "sdxl_lcm_lora.safetensors", 1.0),
        ("Lightning", 4, "euler", "sgm_uniform", "sdxl_lightning_4step_lora.safetensors", 1.0),
        ("Hyper-SD", 4, "dpmpp_sde_gpu", "karras", "sdxl_hyper_sd_4step_lora.safetensors", 0.8),
    ],
)
def test_performance_modes(catalog, performance, steps, sampler, scheduler, lora, weight):
    job = run(catalog, performance_selection=performance, guidance_scale=7.0, image_sharpness=5.0,
              refiner_model_name="realisticStockPhoto_v20.safetensors")
    task = job.tasks[0]
    assert (task.steps, task.sampler.value, task.scheduler.value) == (steps, sampler, scheduler)
    if lora is None:
        assert (task.guidance_scale, task.sharpness) == (7.0, 5.0) and task.refiner is not None
        return
    assert (task.loras[-1].name, task.loras[-1].weight) == (lora, weight)
    assert (task.guidance_scale, task.sharpness, task.adaptive_cfg) == (1.0, 0.0, 1.0)
    assert (task.adm.positive, task.adm.negative, task.adm.end) == (1.0, 1.0, 0.0)
    assert task.refiner is None
    assert f"{performance} sets guidance_scale to 1 (the request asked for 7)" in job.warnings
    assert any("runs without a refiner" in w for w in job.warnings)


def test_fast_mode_needs_its_lora_file_and_its_sampler(tmp_path):
    models = {**STANDARD_MODELS, "loras": ["film_grain_xl.safetensors"]}
    catalog = Catalog(catalog_dir(tmp_path, models=models))
    err = fails(catalog, performance_selection="Lightning")
    assert err.field == "performance_selection"
    assert "sdxl_lightning_4step_lora.safetensors" in err.message and "loras" in err.message
    fresh = Catalog(catalog_dir(tmp_path / "b"))
    fresh.set_kernel_capabilities(["euler", "dpmpp_2m_sde_gpu"], ["karras", "sgm_uniform"])
    assert "needs the sampler lcm" in fails(fresh, performance_selection="Extreme Speed").message
    assert run(fresh, performance_selection="Lightning").tasks[0].sampler.value == "euler"


def test_samplers_are_the_kernels(fresh):
    err = fails(fresh, sampler_name="dpmpp_2m_sde_gpuu")
    assert err.field == "sampler_name" and "dpmpp_2m_sde_gpu" in err.suggestions
    fresh.set_kernel_capabilities(["euler", "dpmpp_2m"], ["karras"])
    job = run(fresh)  # the preset's dpmpp_2m_sde_gpu is not run by this kernel: fallback, said so
    assert job.tasks[0].sampler.value == "euler"
    assert any("sampler_name" in w and "dpmpp_2m_sde_gpu" in w for w in job.warnings)
    assert fails(fresh, sampler_name="dpmpp_2m_sde_gpu").field == "sampler_name"
    assert fails(fresh, scheduler_name="exponential").field == "scheduler_name"


@pytest.mark.parametrize("text", ["1152*896", "1152×896", "1152x896", "1152×896 ∣ 9:7"])
def test_aspect_spellings(catalog, text):
    task = run(catalog, aspect_ratios_selection=text).tasks[0]
    assert (task.width, task.height) == (1152, 896)


def test_custom_sizes_and_overwrites(catalog):
    task = run(catalog, aspect_ratios_selection="1000*776").tasks[0]
    assert (task.width, task.height) == (1000, 776)
    err = fails(catalog, aspect_ratios_selection="1001*776")
    assert err.field == "aspect_ratios_selection" and "multiple of 8" in err.message
    err = fails(catalog, aspect_ratios_selection="1152*869")
    assert "1152*896" in err.suggestions
    job = run(catalog, overwrite_width=640, overwrite_height=-1, overwrite_step=12,
              refiner_model_name="realisticStockPhoto_v20.safetensors", overwrite_switch=0.4)
    task = job.tasks[0]
    assert (task.width, task.height, task.steps, task.refiner_switch) == (640, 896, 12, 0.4)
    assert job.images[0].overwrite_switch == 0.4
    assert fails(catalog, overwrite_width=642).field == "overwrite_width"
    assert fails(catalog, overwrite_switch=0.05).field == "overwrite_switch"


def test_preset_overwrite_switch_step_becomes_a_fraction(tmp_path):
    root = catalog_dir(tmp_path)
    (root / "presets" / "stepped.json").write_text('{"default_overwrite_switch": 24}')
    job = run(Catalog(root), preset="stepped", refiner_model_name="realisticStockPhoto_v20.safetensors")
    assert job.tasks[0].refiner_switch == 0.8  # step 24 of Speed's 30


def test_seeds(catalog):
    assert run(catalog, image_seed=5, image_number=3).tasks[0].seeds == [5, 6, 7]
    assert run(catalog, image_seed=5, image_number=3, disable_seed_increment=True).tasks[0].seeds == [5, 5, 5]
    assert run(catalog, image_seed=MAX_SEED, image_number=2).tasks[0].seeds == [MAX_SEED, 0]
    drawn = random.Random(9).randint(0, MAX_SEED)
    assert run(catalog, 9, image_number=1).tasks[0].seeds == [drawn]
    assert run(catalog, 9, image_seed=-1, image_number=1).tasks[0].seeds == [drawn]
    job = run(catalog, 9, image_seed=3, seed_random=True, image_number=1)
    assert job.tasks[0].seeds == [drawn] and "image_seed ignored: seed_random is true" in job.warnings
    assert run(catalog, 9, image_seed=3, seed_random=False, image_number=1).tasks[0].seeds == [3]
    assert fails(catalog, seed_random=False).field == "image_seed"


def test_tasks_merge_only_consecutive_identical_images(catalog):
    job = run(catalog, prompt="a [[red,red,blue,red]] ball", image_number=4, image_seed=1)
    assert [t.seeds for t in job.tasks] == [[1, 2], [3], [4]]
    assert [t.task_id for t in job.tasks] == ["job-0", "job-1", "job-2"]
    assert [img.seed for img in job.images] == [1, 2, 3, 4]


def test_metadata_is_embedded_per_image_or_not_at_all(catalog):
    job = run(catalog, prompt="x", image_seed=1, metadata_scheme="a1111")
    task = job.tasks[0]
    assert task.image_metadata == [metadata.embedded_text(p, "a1111") for p in job.images]
    assert job.images[0].metadata_scheme == "a1111"
    off = run(catalog, prompt="x", save_metadata_to_images=False, metadata_scheme="a1111")
    assert off.tasks[0].image_metadata == []
    assert "metadata_scheme has no effect while save_metadata_to_images is false" in off.warnings


def test_image_params_carry_short_hashes(catalog):
    image = run(catalog, prompt="x").images[0]
    base = catalog.model("checkpoints", image.base_model)
    assert image.base_model_hash == hashlib.sha256(Path(base.path).read_bytes()).hexdigest()[:10]
    assert len(image.loras[0].hash) == 10


def test_freeu_and_knobs_without_effect_are_reported(catalog):
    job = run(catalog, freeu_b1=1.3)
    assert job.tasks[0].freeu.enabled is False
    assert "freeu_b1 has no effect while freeu_enabled is false" in job.warnings
    job = run(catalog, freeu_enabled=True, freeu_b1=1.3)
    assert job.tasks[0].freeu.enabled and job.tasks[0].freeu.b1 == 1.3 and job.images[0].freeu[0] == 1.3


def test_preview_and_output_format(catalog):
    task = run(catalog, disable_preview=True, output_format="webp").tasks[0]
    assert task.preview.enabled is False and task.output_format.value == "webp"


def test_effective_request_reproduces_the_job(catalog):
    job = run(catalog, 4, prompt="a __color__ [[cat,dog]] <lora:film_grain_xl:0.3>", image_number=3,
              style_selections=["Random Style", "sai-anime"], performance_selection="Hyper-SD")
    again = normalize(job.request, catalog, job_id="job", rng=random.Random(99))
    assert again.tasks == job.tasks and again.images == job.images
    assert job.request.style_selections == ["Random Style", "SAI Anime"]


def test_every_task_is_valid_on_the_wire(catalog):
    job = run(catalog, prompt="x <lora:film_grain_xl:2>", image_number=32, image_seed=MAX_SEED - 3)
    for task in job.tasks:
        assert msgspec.json.decode(msgspec.json.encode(task), type=GenerateTask) == task


@pytest.fixture
def with_sd15(tmp_path) -> Catalog:
    """The standard catalog with real headers: an SD 1.5 and an SDXL checkpoint, SDXL LoRAs (the default
    preset's offset LoRA among them) and one SD 1.5 LoRA."""
    root = catalog_dir(tmp_path)
    models = root / "models"
    safetensors_with(models / "checkpoints" / "dreamshaper_8.safetensors", SD15_SHAPES)
    safetensors_with(models / "checkpoints" / "juggernautXL_v8Rundiffusion.safetensors", SDXL_SHAPES)
    for name in ("sd_xl_offset_example-lora_1.0.safetensors", "sdxl_lightning_4step_lora.safetensors"):
        safetensors_with(models / "loras" / name, SDXL_LORA_SHAPES)
    safetensors_with(models / "loras" / "sd15-detail.safetensors", SD15_LORA_SHAPES)
    return Catalog(root)


def test_sd15_with_the_default_preset_gets_neutral_adm_and_no_sdxl_lora(with_sd15):
    job = run(with_sd15, prompt="a cat", base_model_name="dreamshaper_8.safetensors")
    task = job.tasks[0]
    assert (task.adm.positive, task.adm.negative, task.adm.end) == (1.0, 1.0, 0.0)
    assert job.images[0].adm_guidance == (1.0, 1.0, 0.0)  # what the image's metadata records
    assert (job.request.adm_scaler_positive, job.request.adm_scaler_end) == (1.0, 0.0)
    assert task.loras == []  # the preset's SDXL offset LoRA does not fit: left out, and said
    assert any("sd_xl_offset_example-lora_1.0.safetensors is made for SDXL" in w for w in job.warnings)
    assert any("SD 1.5" in w and "ADM" in w for w in job.warnings)
    # The same on an SDXL base: Fooocus's SDXL defaults, and the preset's LoRA.
    xl = run(with_sd15, prompt="a cat", base_model_name="juggernautXL_v8Rundiffusion.safetensors")
    assert (xl.tasks[0].adm.positive, xl.tasks[0].adm.end) == (1.5, 0.3)
    assert [lora.name for lora in xl.tasks[0].loras] == ["sd_xl_offset_example-lora_1.0.safetensors"]


def test_sd15_refuses_what_the_client_chose_and_it_cannot_take(with_sd15):
    base = {"prompt": "a cat", "base_model_name": "dreamshaper_8.safetensors"}
    assert fails(with_sd15, **base, adm_scaler_end=0.5).field == "adm_scaler_end"
    err = fails(with_sd15, **base, loras=[{"name": "sdxl_lightning_4step_lora.safetensors", "weight": 1}])
    assert err.field == "loras[0].name" and "SD 1.5 (768-wide" in err.message
    assert fails(with_sd15, **base, performance_selection="Lightning").field == "performance_selection"
    assert fails(with_sd15, **base, refiner_model_name="juggernautXL_v8Rundiffusion.safetensors").field == (
        "refiner_model_name")
    # What it can take passes: neutral ADM said explicitly, an SD 1.5 LoRA, SD 1.5 as an SDXL refiner.
    ok = run(with_sd15, **base, adm_scaler_positive=1.0, loras=[{"name": "sd15-detail.safetensors", "weight": 1}])
    assert [lora.name for lora in ok.tasks[0].loras] == ["sd15-detail.safetensors"]
    xl = run(with_sd15, prompt="a", base_model_name="juggernautXL_v8Rundiffusion.safetensors",
             refiner_model_name="dreamshaper_8.safetensors")
    assert xl.tasks[0].refiner.name == "dreamshaper_8.safetensors"


def test_a_v1_payload_with_fooocus_defaults_runs_on_sd15(with_sd15):
    """RemGo's frontend sends every value, Fooocus's SDXL ADM defaults included: not the client's choice."""
    request = msgspec.convert({"prompt": "a cat", "base_model_name": "dreamshaper_8.safetensors",
                               "adm_scaler_positive": 1.5, "adm_scaler_negative": 0.8, "adm_scaler_end": 0.3},
                              GenerateRequest)
    job = normalize(request, with_sd15, job_id="v1", rng=random.Random(0))
    assert job.tasks[0].adm.end == 0.0
