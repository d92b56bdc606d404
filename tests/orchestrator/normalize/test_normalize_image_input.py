"""Input images → the task's method, output size and steps, by Fooocus 2.5's rules (modules/async_worker.py:
apply_vary, apply_upscale, apply_outpaint; modules/util.py: get_shape_ceil, set_image_shape_ceil). The sizes
below are worked out by hand from those rules, not from remgo's code."""

from __future__ import annotations

import os
import random

import msgspec
import pytest

from contract.image_input import Inpaint, Padding, Upscale, Vary
from contract.request import GenerateRequest, ImageSource
from orchestrator.catalog import Catalog, ModelKind
from orchestrator.common.input_image import ResolvedImage
from orchestrator.normalize import NormalizeError, normalize
from tests.orchestrator.catalog.catalog_samples import (
    SD15_SHAPES,
    SDXL_SHAPES,
    STANDARD_MODELS,
    UNET_IN,
    catalog_dir,
    safetensors_with,
)

SHA_A, SHA_B = "a" * 64, "b" * 64


@pytest.fixture(scope="module")
def catalog(tmp_path_factory) -> Catalog:
    return Catalog(catalog_dir(tmp_path_factory.mktemp("inputs")))


@pytest.fixture(scope="module")
def with_upscaler(tmp_path_factory) -> Catalog:
    models = {**STANDARD_MODELS, "upscale_models": ["4x-UltraSharp.safetensors"]}
    return Catalog(catalog_dir(tmp_path_factory.mktemp("upscaler"), models=models))


def resolved(width: int, height: int, sha: str = SHA_A, history_id: str | None = None) -> ResolvedImage:
    return ResolvedImage(sha256=sha, width=width, height=height, format="png", nbytes=1000, history_id=history_id)


def run(catalog: Catalog, inputs: dict[str, ResolvedImage], **fields):
    for name in inputs:
        fields.setdefault(name, {"upload_id": inputs[name].sha256})
    request = msgspec.convert(fields, GenerateRequest)
    return normalize(request, catalog, job_id="job", rng=random.Random(0), inputs=inputs)


def fails(catalog: Catalog, inputs: dict[str, ResolvedImage], **fields) -> NormalizeError:
    with pytest.raises(NormalizeError) as err:
        run(catalog, inputs, **fields)
    return err.value


@pytest.mark.parametrize(("size", "method", "expected", "denoise"), [
    ((512, 512), "Vary (Subtle)", (1024, 1024), 0.5),  # shape ceil 512 → 1024: doubled
    ((1000, 750), "Vary (Strong)", (1152, 832), 0.85),  # ceil 896 → 1024: ×8/7, sides to multiples of 64
    ((1536, 1024), "Vary (Subtle)", (1536, 1024), 0.5),  # ceil 1280, within 1024…2048: kept
    ((1203, 1001), "Vary (Subtle)", (1200, 1000), 0.5),  # kept, floored to multiples of 8 for the latent
    ((3000, 2000), "Vary (Subtle)", (2432, 1664), 0.5),  # ceil 2496 → 2048
])
def test_vary_sizes_and_strengths_follow_fooocus(catalog, size, method, expected, denoise):
    job = run(catalog, {"uov_input_image": resolved(*size)}, uov_method=method, prompt="x")
    task = job.tasks[0]
    assert isinstance(task.method(), Vary) and task.method().denoise == denoise
    assert (task.width, task.height) == expected
    assert task.steps == 30  # the performance's steps, all of them run at the denoise
    assert task.method().image.data == b"" and task.method().image.sha256 == SHA_A  # bytes stay in the store
    assert job.images[0].input.method == method and job.images[0].input.denoise == denoise


def test_overwrite_vary_strength_replaces_the_method_strength(catalog):
    image = {"uov_input_image": resolved(1024, 1024)}
    assert run(catalog, image, uov_method="Vary (Strong)", overwrite_vary_strength=0.3).tasks[0].method().denoise == 0.3
    assert run(catalog, image, uov_method="Vary (Strong)", overwrite_vary_strength=-1).tasks[0].method().denoise == 0.85


def test_upscale_2x_of_an_sdxl_image_runs_at_0_382_with_the_upscale_steps(with_upscaler):
    job = run(with_upscaler, {"uov_input_image": resolved(1152, 896)}, uov_method="Upscale (2x)")
    task = job.tasks[0]
    method = task.method()
    assert isinstance(method, Upscale) and method.denoise == 0.382
    assert method.upscaler.name == "4x-UltraSharp.safetensors"
    assert (task.width, task.height, task.steps) == (2304, 1792, 18)  # Speed's upscale steps
    quality = run(with_upscaler, {"uov_input_image": resolved(1152, 896)}, uov_method="Upscale (1.5x)",
                  performance_selection="Quality")
    assert (quality.tasks[0].width, quality.tasks[0].height, quality.tasks[0].steps) == (1728, 1344, 36)


def test_upscale_small_results_are_brought_to_shape_ceil_1024_and_large_ones_skip_diffusion(with_upscaler):
    small = run(with_upscaler, {"uov_input_image": resolved(512, 512)}, uov_method="Upscale (1.5x)").tasks[0]
    assert (small.width, small.height) == (1024, 1024)  # 768² has shape ceil 768 < 1024
    big = run(with_upscaler, {"uov_input_image": resolved(1600, 1600)}, uov_method="Upscale (2x)")
    assert (big.tasks[0].width, big.tasks[0].height) == (3200, 3200) and big.tasks[0].method().denoise is None
    assert any("without diffusion" in w for w in big.warnings)


def test_fast_2x_and_custom_factor(with_upscaler):
    fast = run(with_upscaler, {"uov_input_image": resolved(1000, 750)}, uov_method="Upscale (Fast 2x)").tasks[0]
    assert (fast.width, fast.height, fast.method().denoise) == (2000, 1500, None)
    custom = run(with_upscaler, {"uov_input_image": resolved(700, 500)}, uov_method="Upscale (Custom)",
                 upscale_value=3.0, overwrite_upscale_strength=0.25).tasks[0]
    assert (custom.width, custom.height, custom.method().denoise) == (2100, 1500, 0.25)
    assert fails(with_upscaler, {"uov_input_image": resolved(700, 500)}, uov_method="Upscale (Custom)").field == (
        "upscale_value")


def test_upscale_without_a_model_is_refused_unless_the_lanczos_fallback_is_asked_for(catalog):
    err = fails(catalog, {"uov_input_image": resolved(512, 512)}, uov_method="Upscale (2x)")
    assert err.field == "uov_method" and "upscale_models" in err.message and "upscale_fallback" in err.message
    job = run(catalog, {"uov_input_image": resolved(512, 512)}, uov_method="Upscale (2x)", upscale_fallback=True)
    assert job.tasks[0].method().upscaler is None and any("Lanczos" in w for w in job.warnings)
    assert job.images[0].input.upscaler == "Lanczos"


def test_outpaint_pads_thirty_percent_and_forces_full_strength(catalog):
    job = run(catalog, {"inpaint_input_image": resolved(1000, 600)}, outpaint_selections=["Left", "Top"],
              inpaint_strength=0.5)
    task = job.tasks[0]
    method = task.method()
    assert isinstance(method, Inpaint) and method.mask is None
    assert method.padding == Padding(left=300, top=180)
    assert (task.width, task.height) == (1300, 780)
    assert (method.denoise, method.respective_field) == (1.0, 1.0)
    assert any("inpaint_strength is 1.0 for Outpaint" in w for w in job.warnings)
    assert not any("inpaint_respective_field" in w for w in job.warnings)  # its default, not asked for
    assert job.images[0].input.method == "Outpaint" and job.images[0].input.outpaint == ["Left", "Top"]


def test_inpaint_keeps_the_image_size_and_puts_the_additional_prompt_first(catalog):
    inputs = {"inpaint_input_image": resolved(900, 700), "inpaint_mask_image": resolved(900, 700, SHA_B)}
    job = run(catalog, inputs, prompt="a cat", inpaint_additional_prompt="red hat", inpaint_strength=0.6,
              inpaint_respective_field=0.3, inpaint_erode_or_dilate=-4, invert_mask_checkbox=True,
              inpaint_engine="v2.6")
    task = job.tasks[0]
    method = task.method()
    assert (task.width, task.height) == (900, 700) and method.mask.sha256 == SHA_B
    assert (method.denoise, method.respective_field, method.erode_or_dilate, method.invert_mask) == (
        0.6, 0.3, -4, True)
    assert job.images[0].prompt.split("\n")[:2] == ["red hat", "a cat"]
    # Fooocus's engine, asked for, but this catalog has no inpaint folder: named in the warning, not sent
    assert method.engine is None and job.images[0].input.inpaint_engine == "None"
    assert any("inpaint engine v2.6" in w and "fooocus_inpaint_head.pth and inpaint_v26.fooocus.patch not found"
               in w for w in job.warnings)
    plain = run(catalog, inputs, prompt="a cat", inpaint_engine="None")
    assert not any("engine" in w for w in plain.warnings) and plain.images[0].input.inpaint_engine == "None"


ENGINE_FILES = ["fooocus_inpaint_head.pth", "inpaint_v26.fooocus.patch", "inpaint_v25.fooocus.patch"]


INPAINT = {"inpaint_input_image": resolved(900, 700), "inpaint_mask_image": resolved(900, 700, SHA_B)}


@pytest.fixture(scope="module")
def with_engine(tmp_path_factory) -> Catalog:
    models = {**STANDARD_MODELS, "inpaint": ENGINE_FILES}  # Fooocus's models/inpaint, pickles and all
    root = catalog_dir(tmp_path_factory.mktemp("engine"), models=models)
    safetensors_with(root / "models" / "checkpoints" / "xl.safetensors", SDXL_SHAPES)
    safetensors_with(root / "models" / "checkpoints" / "sd15.safetensors", SD15_SHAPES)
    # sd-xl inpainting 0.1's layout: SDXL's, the first convolution reading latent + mask + masked-image latent
    safetensors_with(root / "models" / "checkpoints" / "xl-inpainting.safetensors", {**SDXL_SHAPES, UNET_IN: (1, 9, 1, 1)})
    return Catalog(root)


def test_the_inpaint_engine_is_fooocus_v26_head_and_patch_by_default_when_installed(with_engine):
    inputs = INPAINT
    folder = with_engine.snapshot().folders[ModelKind.inpaint][0]
    for asked, patch in ({}, "inpaint_v26.fooocus.patch"), ({"inpaint_engine": "v2.5"}, "inpaint_v25.fooocus.patch"):
        job = run(with_engine, inputs, prompt="a cat", base_model_name="xl.safetensors", **asked)
        engine = job.tasks[0].method().engine
        assert engine.version == asked.get("inpaint_engine", "v2.6")
        assert (engine.head.name, engine.patch.name) == ("fooocus_inpaint_head.pth", patch)
        assert engine.head.path == os.path.join(folder, "fooocus_inpaint_head.pth")
        assert engine.patch.path == os.path.join(folder, patch)
        assert job.images[0].input.inpaint_engine == engine.version
        assert not any("engine" in w for w in job.warnings)
    job = run(with_engine, inputs, prompt="a cat", base_model_name="xl.safetensors", inpaint_engine="v1")
    assert job.tasks[0].method().engine is None and job.images[0].input.inpaint_engine == "None"
    assert any("inpaint.fooocus.patch not found in " + folder in w for w in job.warnings)


@pytest.mark.parametrize(("base", "says"), [("sd15.safetensors", "sd15"),
                                            ("juggernautXL_v8Rundiffusion.safetensors", "unknown")])
def test_the_engine_goes_to_sdxl_bases_only(with_engine, base, says):
    # Fooocus's patch names SDXL's weights; a header the catalog cannot read may be a 9-channel inpainting UNet
    job = run(with_engine, INPAINT, prompt="a cat", base_model_name=base)
    assert job.tasks[0].method().engine is None and job.images[0].input.inpaint_engine == "None"
    assert any(f"inpaint patch is for an SDXL base and this base's header says {says}" in w for w in job.warnings)


def test_an_inpainting_checkpoint_inpaints_with_its_own_unet_not_the_engine(with_engine):
    listed = with_engine.snapshot().models[ModelKind.checkpoints]["xl-inpainting.safetensors"]
    assert (listed.architecture, listed.inpainting, listed.public()["inpainting"]) == ("sdxl", True, True)
    job = run(with_engine, INPAINT, prompt="a cat", base_model_name="xl-inpainting.safetensors")  # engine v2.6 asked
    assert job.tasks[0].method().engine is None and job.images[0].input.inpaint_engine == "None"
    assert any("inpaint engine v2.6: the base is an inpainting checkpoint" in w for w in job.warnings)


def test_an_installed_engine_is_not_sent_to_a_kernel_that_does_not_run_it(tmp_path):
    catalog = Catalog(catalog_dir(tmp_path, models={**STANDARD_MODELS, "inpaint": ENGINE_FILES}))
    catalog.set_kernel_capabilities(["euler"], ["karras"], ["inpaint"])
    job = run(catalog, INPAINT, prompt="a cat", sampler_name="euler", scheduler_name="karras")
    assert job.tasks[0].method().engine is None
    assert any("does not run Fooocus's inpaint engine" in w for w in job.warnings)


@pytest.mark.parametrize(("inputs", "fields", "field"), [
    ({"inpaint_input_image": resolved(900, 700), "inpaint_mask_image": resolved(900, 600, SHA_B)}, {},
     "inpaint_mask_image"),
    ({"inpaint_input_image": resolved(900, 700)}, {}, "inpaint_mask_image"),  # no mask, no outpaint
    ({"inpaint_mask_image": resolved(900, 700)}, {}, "inpaint_mask_image"),
    ({"uov_input_image": resolved(900, 700)}, {}, "uov_method"),  # an image, no method
    ({}, {"uov_method": "Vary (Subtle)"}, "uov_input_image"),
    ({"uov_input_image": resolved(900, 700), "inpaint_input_image": resolved(900, 700, SHA_B)},
     {"uov_method": "Vary (Subtle)"}, "inpaint_input_image"),
    ({"inpaint_input_image": resolved(900, 700)}, {"outpaint_selections": ["Left"], "inpaint_engine": "v9"},
     "inpaint_engine"),
    ({"uov_input_image": resolved(8000, 100)}, {"uov_method": "Vary (Subtle)"}, "uov_input_image"),
])
def test_inconsistent_inputs_name_the_field(catalog, inputs, fields, field):
    assert fails(catalog, inputs, **fields).field == field


def test_size_knobs_are_reported_unused_with_an_input_image_and_image_knobs_without_one(catalog):
    job = run(catalog, {"uov_input_image": resolved(1024, 1024)}, uov_method="Vary (Subtle)",
              aspect_ratios_selection="896*1152")
    assert any("aspect_ratios_selection has no effect with Vary (Subtle)" in w for w in job.warnings)
    plain = run(catalog, {}, inpaint_strength=0.5)
    assert any("inpaint_strength has no effect without an input image" in w for w in plain.warnings)
    assert plain.request.inpaint_strength == 0.5 and plain.images[0].input is None


def test_a_history_image_is_recorded_by_its_id(catalog):
    job = run(catalog, {"uov_input_image": resolved(1024, 1024, history_id="5f0c2a9e1b7d4c3a")}, uov_method="Vary (Subtle)",
              uov_input_image={"history_id": "5f0c2a9e1b7d4c3a"})
    assert job.images[0].input.history_id == "5f0c2a9e1b7d4c3a" and job.images[0].input.image_sha256 == SHA_A
    assert job.request.uov_input_image == ImageSource(history_id="5f0c2a9e1b7d4c3a")


def test_what_the_workers_kernel_reports_it_cannot_run_is_refused_at_submission(tmp_path):
    models = {**STANDARD_MODELS, "upscale_models": ["4x-UltraSharp.safetensors"]}
    catalog = Catalog(catalog_dir(tmp_path, models=models))
    catalog.set_kernel_capabilities([], [], ["vary", "upscale", "inpaint"])  # no super-resolution model
    image = {"uov_input_image": resolved(512, 512)}
    err = fails(catalog, image, uov_method="Upscale (2x)")
    assert err.field == "uov_method" and "4x-UltraSharp.safetensors" in err.message and "upscale_fallback" in err.message
    job = run(catalog, image, uov_method="Upscale (2x)", upscale_fallback=True)
    assert job.tasks[0].method().upscaler is None and any("super-resolution" in w for w in job.warnings)
    catalog.set_kernel_capabilities([], [], [])  # a text-to-image kernel
    assert fails(catalog, image, uov_method="Vary (Subtle)").field == "uov_method"
    assert fails(catalog, {"inpaint_input_image": resolved(512, 512)}, outpaint_selections=["Left"]).field == (
        "inpaint_input_image")
    catalog.set_kernel_capabilities([], [], None)  # a kernel still loading says nothing: what was said stands
    assert fails(catalog, image, uov_method="Vary (Subtle)").field == "uov_method"
    unheard = Catalog(catalog_dir(tmp_path / "unheard", models=models))  # no kernel has answered yet
    assert run(unheard, image, uov_method="Upscale (2x)").tasks[0].method().upscaler.name == "4x-UltraSharp.safetensors"
