"""Every knob the diffusers kernel honours changes its output; every one it does not is refused by name."""

from __future__ import annotations

import io
import os

import msgspec
import pytest
from PIL import Image

from contract.a1111_timesteps import SAMPLER_SCHEDULE
from contract.events import FailureKind, Stage
from contract.task import AdmScalers, FreeU, GenerateTask, LoraSpec, ModelRef, OutputFormat, PreviewSettings
from inference_worker.diffusers_kernel.sampling.samplers import SAMPLERS
from inference_worker.diffusers_kernel.sampling.sigmas import SCHEDULE_SAMPLER, SCHEDULES
from inference_worker.kernel import KernelError, KernelOptions
from orchestrator.store.metadata.image_io import read_embedded as read_metadata
from tests.inference_worker.diffusers_kernel.fidelity_models import pixels, run


@pytest.fixture(scope="module")
def kernel():
    from inference_worker.diffusers_kernel.kernel import DiffusersKernel

    return DiffusersKernel(
        KernelOptions(threads=int(os.environ.get("REMGO_TEST_THREADS", "1")), pipeline_cache=2)
    )


@pytest.fixture(scope="module")
def make(tiny_models):
    def build(**fields) -> GenerateTask:
        base = {
            "task_id": "k",
            "base_model": ModelRef(name="tiny-sdxl", path=tiny_models.sdxl_file),
            "width": 64,
            "height": 64,
            "seeds": [3],
            "steps": 3,
            "sampler": "euler",
            "scheduler": "normal",
            "guidance_scale": 4.0,
            "positive": ["a lighthouse at dusk"],
            "negative": ["blurry"],
        }
        base.update(fields)
        return msgspec.convert(base, GenerateTask, from_attributes=True)

    return build


def test_same_seed_same_bytes_and_seeds_differ(kernel, make):
    a = pixels(kernel, make(seeds=[3, 4]))
    b = pixels(kernel, make(seeds=[3, 4], task_id="again"))
    assert a == b
    assert a[0] != a[1]


DISTINCT_SAMPLERS = sorted({name for name in SAMPLERS if name != "ddim" and not name.endswith("_gpu")})


@pytest.mark.parametrize("sampler", [s for s in DISTINCT_SAMPLERS if s != "euler"])
def test_each_sampler_changes_the_output(kernel, make, sampler):
    if sampler in SAMPLER_SCHEDULE:  # plms runs on A1111's DDIM timesteps only: DDIM's Euler step on them beside it
        on = {"scheduler": SAMPLER_SCHEDULE[sampler]}
        assert pixels(kernel, make(sampler=sampler, **on)) != pixels(kernel, make(sampler="ddim", **on))
        return
    assert pixels(kernel, make(sampler=sampler)) != pixels(kernel, make(sampler="euler"))


def test_sampler_aliases_are_documented_equivalents(kernel, make):
    assert pixels(kernel, make(sampler="ddim")) == pixels(kernel, make(sampler="euler"))
    assert pixels(kernel, make(sampler="dpmpp_2m_sde_gpu")) == pixels(kernel, make(sampler="dpmpp_2m_sde"))
    assert pixels(kernel, make(sampler="dpmpp_sde_gpu")) == pixels(kernel, make(sampler="dpmpp_sde"))


@pytest.mark.parametrize("scheduler", [s for s in SCHEDULES if s != "normal"])
def test_each_scheduler_changes_the_output(kernel, make, scheduler):
    # a1111_ddim runs with its own sampler only (ddim, the Euler step): both sides use it
    sampler = {"sampler": SCHEDULE_SAMPLER[scheduler][0]} if scheduler in SCHEDULE_SAMPLER else {}
    assert pixels(kernel, make(scheduler=scheduler, **sampler)) != pixels(kernel, make(scheduler="normal", **sampler))


def test_steps_guidance_prompts_and_clip_skip_change_the_output(kernel, make):
    ref = pixels(kernel, make())
    for change in (
        {"steps": 4},
        {"guidance_scale": 7.0},
        {"guidance_scale": 1.0},
        {"positive": ["a lighthouse at noon"]},
        {"negative": ["sharp"]},
        {"positive": ["a lighthouse at dusk", "oil painting"]},
        {"clip_skip": 1},
    ):
        assert pixels(kernel, make(**change)) != ref, change


def test_size_sets_the_image_size(kernel, make):
    res = run(kernel, make(width=96, height=64))
    img = Image.open(io.BytesIO(res.images[0].data))
    assert img.size == (96, 64) and (res.images[0].width, res.images[0].height) == (96, 64)


def test_adm_scalers_change_sdxl_output(kernel, make):
    neutral = pixels(kernel, make())
    scaled = pixels(kernel, make(adm=AdmScalers(positive=1.5, negative=0.8, end=0.5)))
    assert scaled != neutral
    assert pixels(kernel, make(adm=AdmScalers(positive=1.5, negative=0.8, end=0.0))) == neutral


def test_freeu_changes_output(kernel, make):
    assert pixels(kernel, make(freeu=FreeU(enabled=True))) != pixels(kernel, make())
    assert pixels(kernel, make(freeu=FreeU(enabled=False, b1=2.0))) == pixels(kernel, make())


def test_lora_applies_with_its_weight_and_unloads(kernel, make, tiny_models):
    ref = pixels(kernel, make())
    full = pixels(kernel, make(loras=[LoraSpec(name="l", path=tiny_models.lora_file, weight=1.0)]))
    half = pixels(kernel, make(loras=[LoraSpec(name="l", path=tiny_models.lora_file, weight=0.5)]))
    assert len({ref[0], full[0], half[0]}) == 3
    assert pixels(kernel, make()) == ref


def test_vae_override_changes_decoding(kernel, make, tiny_models):
    ref = pixels(kernel, make())
    other = pixels(kernel, make(vae=ModelRef(name="tiny-vae", path=tiny_models.vae_file)))
    assert other != ref
    assert pixels(kernel, make()) == ref


def test_sd15_and_diffusers_folder_load(kernel, make, tiny_models):
    sd15 = pixels(kernel, make(base_model=ModelRef(name="tiny-sd15", path=tiny_models.sd15_file)))
    assert Image.open(io.BytesIO(sd15[0])).size == (64, 64)
    # The folder holds the same weights as the single file, so the same image comes out.
    folder = pixels(kernel, make(base_model=ModelRef(name="dir", path=tiny_models.sdxl_dir)))
    assert folder == pixels(kernel, make())


@pytest.mark.parametrize("fmt", [OutputFormat.png, OutputFormat.jpeg, OutputFormat.webp])
def test_output_format_and_metadata(kernel, make, fmt):
    meta = {"parameters": "a lighthouse at dusk, Steps: 3", "fooocus_scheme": "fooocus"}
    res = run(kernel, make(output_format=fmt, image_metadata=[meta]))
    data = res.images[0].data
    assert Image.open(io.BytesIO(data)).format == {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}[fmt.value]
    assert read_metadata(data) == meta


def test_previews_follow_the_settings(kernel, make):
    notes: list = []
    run(kernel, make(preview=PreviewSettings(enabled=True, every_n_steps=2, max_side=32)), notes)
    with_preview = [n.step for n in notes if n.preview]
    assert with_preview == [2, 3]
    img = Image.open(io.BytesIO(next(n.preview for n in notes if n.preview)))
    assert img.format == "JPEG" and max(img.size) == 32
    notes.clear()
    run(kernel, make(preview=PreviewSettings(enabled=False)), notes)
    assert not any(n.preview for n in notes)
    assert [n.step for n in notes if n.stage is Stage.sampling and n.step] == [1, 2, 3]


@pytest.mark.parametrize(("change", "field"), [({"scheduler": "edm_playground_v2.5"}, "scheduler")])
def test_unhonoured_fields_are_refused_by_name(kernel, make, change, field):
    with pytest.raises(KernelError) as exc:
        kernel.check(make(**change))
    assert exc.value.kind is FailureKind.unsupported and exc.value.field == field
    if field in ("sampler", "scheduler"):
        assert "supported:" in exc.value.message


def test_model_specific_refusals(kernel, make, tiny_models):
    with pytest.raises(KernelError) as exc:
        run(kernel, make(clip_skip=5))
    assert exc.value.field == "clip_skip"
    sd15 = ModelRef(name="tiny-sd15", path=tiny_models.sd15_file)
    with pytest.raises(KernelError) as exc:
        run(kernel, make(base_model=sd15, adm=AdmScalers(positive=1.5, negative=0.8, end=0.3)))
    assert exc.value.field == "adm"


def test_second_task_on_the_same_model_pays_no_load(kernel, make):
    run(kernel, make())
    loads = kernel.cache.loads
    run(kernel, make(task_id="again", seeds=[9]))
    assert kernel.cache.loads == loads
    assert any(name.startswith("tiny-sdxl") for name in kernel.loaded_models())
