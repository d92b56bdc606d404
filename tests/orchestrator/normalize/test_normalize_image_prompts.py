"""Image prompts → the task's `image_prompts` and `control`, by Fooocus 2.5's rules: the type's default stop
and weight (modules/flags.py default_parameters) when unset or 0, the model files Fooocus downloads for each
type (modules/config.py downloading_controlnet_canny/_cpds, downloading_ip_adapters), the advanced knobs'
defaults (0.25, 64, 128, off, off); missing files and types the kernel does not run refused by field."""

from __future__ import annotations

import random

import msgspec
import pytest

from contract.image_input import Vary
from contract.image_prompt import ControlSettings, ImagePromptType
from contract.request import GenerateRequest
from orchestrator.catalog import Catalog
from orchestrator.common.image_params import PromptUse
from orchestrator.common.input_image import ResolvedImage
from orchestrator.normalize import NormalizeError, normalize
from orchestrator.store.metadata import text as metadata
from tests.orchestrator.catalog.catalog_samples import (
    SD15_SHAPES,
    STANDARD_MODELS,
    catalog_dir,
    safetensors_with,
)

# Fooocus 2.5's own file names and folders (models/controlnet holds the IP-Adapters too).
FOOOCUS_FILES = {
    "controlnet": ["control-lora-canny-rank128.safetensors", "fooocus_xl_cpds_128.safetensors",
                   "ip-adapter-plus_sdxl_vit-h.bin", "ip-adapter-plus-face_sdxl_vit-h.bin",
                   "fooocus_ip_negative.safetensors"],
    "clip_vision": ["clip_vision_vit_h.safetensors"],
}
SHAS = ["1" * 64, "2" * 64, "3" * 64, "4" * 64]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Catalog:
    return Catalog(catalog_dir(tmp_path_factory.mktemp("ip"), models={**STANDARD_MODELS, **FOOOCUS_FILES}))


@pytest.fixture(scope="module")
def bare(tmp_path_factory) -> Catalog:
    return Catalog(catalog_dir(tmp_path_factory.mktemp("bare")))


def image(i: int, history_id: str | None = None) -> ResolvedImage:
    return ResolvedImage(sha256=SHAS[i], width=640, height=480, format="png", nbytes=900, history_id=history_id)


def run(catalog: Catalog, prompts: list[dict], inputs: dict[str, ResolvedImage] | None = None, **fields):
    inputs = dict(inputs or {})
    for i, prompt in enumerate(prompts):
        inputs.setdefault(f"image_prompts[{i}].image", image(i))
        prompt.setdefault("image", {"upload_id": inputs[f"image_prompts[{i}].image"].sha256})
    for name, found in inputs.items():
        if not name.startswith("image_prompts["):
            fields.setdefault(name, {"upload_id": found.sha256})
    request = msgspec.convert({"prompt": "a cat", "image_prompts": prompts, **fields}, GenerateRequest)
    return normalize(request, catalog, job_id="job", rng=random.Random(0), inputs=inputs)


def fails(catalog: Catalog, prompts: list[dict], **fields) -> NormalizeError:
    with pytest.raises(NormalizeError) as err:
        run(catalog, prompts, **fields)
    return err.value


@pytest.mark.parametrize(("kind", "stop", "weight"), [
    ("ImagePrompt", 0.5, 0.6), ("FaceSwap", 0.9, 0.75), ("PyraCanny", 0.5, 1.0), ("CPDS", 0.5, 1.0)])
def test_an_unset_or_zero_stop_and_weight_take_the_types_default(installed, kind, stop, weight):
    job = run(installed, [{"type": kind}, {"type": kind, "stop": 0, "weight": 0},
                          {"type": kind, "stop": 0.3, "weight": 1.7}])
    got = [(p.stop, p.weight) for p in job.tasks[0].prompts()]
    assert got == [(stop, weight), (stop, weight), (0.3, 1.7)]


def test_each_type_gets_fooocus_model_files(installed):
    job = run(installed, [{"type": "ImagePrompt"}, {"type": "FaceSwap"}, {"type": "PyraCanny"}, {"type": "CPDS"}])
    prompts = job.tasks[0].prompts()
    named = [(p.type.value, p.model.name, p.image_encoder and p.image_encoder.name, p.ip_negative and p.ip_negative.name)
             for p in prompts]
    assert named == [
        ("ImagePrompt", "ip-adapter-plus_sdxl_vit-h.bin", "clip_vision_vit_h.safetensors",
         "fooocus_ip_negative.safetensors"),
        ("FaceSwap", "ip-adapter-plus-face_sdxl_vit-h.bin", "clip_vision_vit_h.safetensors",
         "fooocus_ip_negative.safetensors"),
        ("PyraCanny", "control-lora-canny-rank128.safetensors", None, None),
        ("CPDS", "fooocus_xl_cpds_128.safetensors", None, None),
    ]
    assert all(p.model.path.endswith("/controlnet/" + p.model.name) for p in prompts)
    # The bytes stay in the input store, named by sha256, until the dispatcher sends the task.
    assert [(p.image.data, p.image.sha256, p.image.width) for p in prompts] == [(b"", s, 640) for s in SHAS]
    assert job.warnings == []


def test_the_advanced_knobs_default_to_fooocus_and_are_carried(installed):
    default = run(installed, [{"type": "PyraCanny"}]).tasks[0].control_settings()
    assert default == ControlSettings(softness=0.25, canny_low=64, canny_high=128, skip_preprocessor=False,
                                      debug_preprocessor=False)
    asked = run(installed, [{"type": "PyraCanny"}], controlnet_softness=0.6, canny_low_threshold=20,
                canny_high_threshold=200, skipping_cn_preprocessor=True, debugging_cn_preprocessor=True)
    assert asked.tasks[0].control == ControlSettings(softness=0.6, canny_low=20, canny_high=200,
                                                     skip_preprocessor=True, debug_preprocessor=True)


def test_a_knob_acting_on_no_prompt_of_the_job_is_warned(installed):
    job = run(installed, [{"type": "ImagePrompt"}], canny_low_threshold=20, controlnet_softness=0.5)
    assert any("controlnet_softness, canny_low_threshold have no effect" in w for w in job.warnings)
    text_only = normalize(GenerateRequest(prompt="x", skipping_cn_preprocessor=True), installed, job_id="j")
    assert any("skipping_cn_preprocessor has no effect" in w for w in text_only.warnings)
    assert text_only.tasks[0].prompts() == [] and text_only.tasks[0].control is msgspec.UNSET


@pytest.mark.parametrize(("kind", "missing"), [
    ("ImagePrompt", ["ip-adapter-plus_sdxl_vit-h.bin", "clip_vision_vit_h.safetensors"]),
    ("FaceSwap", ["ip-adapter-plus-face_sdxl_vit-h.bin", "clip_vision_vit_h.safetensors"]),
    ("PyraCanny", ["control-lora-canny-rank128.safetensors"]),
    ("CPDS", ["fooocus_xl_cpds_128.safetensors"]),
])
def test_a_type_whose_files_are_missing_is_refused_naming_type_and_file(bare, kind, missing):
    error = fails(bare, [{"type": kind}])
    assert error.field == "image_prompts[0].type"
    assert all(name in error.message for name in missing)
    assert "models/" in error.message  # where to put them


def test_only_the_missing_file_is_named(tmp_path):
    models = {**STANDARD_MODELS, "controlnet": ["ip-adapter-plus_sdxl_vit-h.bin"]}
    catalog = Catalog(catalog_dir(tmp_path, models=models))
    error = fails(catalog, [{"type": "PyraCanny", "stop": 0.4}, {"type": "ImagePrompt"}])
    assert error.field == "image_prompts[0].type" and "control-lora-canny-rank128" in error.message
    error = fails(catalog, [{"type": "ImagePrompt"}])
    assert "clip_vision_vit_h.safetensors" in error.message and "ip-adapter-plus_sdxl" not in error.message


def test_without_the_negative_embedding_the_ip_adapter_runs_and_a_warning_says_so(tmp_path):
    models = {**STANDARD_MODELS, "controlnet": ["ip-adapter-plus_sdxl_vit-h.bin"],
              "clip_vision": ["clip_vision_vit_h.safetensors"]}
    job = run(Catalog(catalog_dir(tmp_path, models=models)), [{"type": "ImagePrompt"}])
    assert job.tasks[0].prompts()[0].ip_negative is None
    assert any("fooocus_ip_negative.safetensors is not installed" in w for w in job.warnings)


def test_a_type_the_kernel_does_not_run_is_refused(tmp_path):
    catalog = Catalog(catalog_dir(tmp_path, models={**STANDARD_MODELS, **FOOOCUS_FILES}))
    catalog.set_kernel_capabilities([], [], ["vary", "prompt.ImagePrompt", "prompt.PyraCanny"])
    assert run(catalog, [{"type": "ImagePrompt"}, {"type": "PyraCanny"}]).tasks[0].prompts()
    error = fails(catalog, [{"type": "ImagePrompt"}, {"type": "CPDS"}])
    assert error.field == "image_prompts[1].type" and "'prompt.CPDS'" in error.message


def test_an_sd15_base_is_refused(tmp_path):
    root = catalog_dir(tmp_path, models={**STANDARD_MODELS, **FOOOCUS_FILES})
    safetensors_with(root / "models" / "checkpoints" / "sd15.safetensors", SD15_SHAPES)
    error = fails(Catalog(root), [{"type": "CPDS"}], base_model_name="sd15.safetensors")
    assert error.field == "image_prompts[0].type" and "SDXL" in error.message


def test_image_prompts_mix_with_an_input_image(installed):
    job = run(installed, [{"type": "CPDS"}], inputs={"uov_input_image": image(3)}, uov_method="Vary (Subtle)")
    task = job.tasks[0]
    assert isinstance(task.method(), Vary) and [p.type for p in task.prompts()] == [ImagePromptType.cpds]


def test_metadata_records_each_prompt_in_both_schemes(installed):
    prompts = [{"type": "FaceSwap"}, {"type": "PyraCanny", "stop": 0.7, "weight": 1.2}]
    inputs = {"image_prompts[0].image": image(0, history_id="0123456789abcdef")}
    for scheme in ("fooocus", "a1111"):
        job = run(installed, [dict(p) for p in prompts], inputs=dict(inputs), metadata_scheme=scheme)
        expected = [PromptUse(type="FaceSwap", stop=0.9, weight=0.75, image_sha256=SHAS[0],
                              history_id="0123456789abcdef"),
                    PromptUse(type="PyraCanny", stop=0.7, weight=1.2, image_sha256=SHAS[1])]
        assert job.images[0].image_prompts == expected
        text = job.tasks[0].image_metadata[0]["parameters"]
        assert metadata.parse(text).image_prompts == expected
    plain = normalize(GenerateRequest(prompt="x"), installed, job_id="j")
    assert "image_prompts" not in plain.tasks[0].image_metadata[0]["parameters"]
    assert "Image prompts" not in plain.tasks[0].image_metadata[0]["parameters"]


def test_a_prompt_whose_image_was_not_received_is_refused(installed):
    request = msgspec.convert({"image_prompts": [{"image": {"upload_id": SHAS[0]}}]}, GenerateRequest)
    with pytest.raises(NormalizeError) as err:
        normalize(request, installed, job_id="j", inputs={})
    assert err.value.field == "image_prompts[0].image"
