"""`inpaint_a1111` → an Inpaint with AUTOMATIC1111's steps: A1111's output size (the image's), its working size
rules, its infotext keys, and Fooocus's knobs refused or said to do nothing."""

from __future__ import annotations

import msgspec
import pytest

from contract.image_input import A1111Inpaint, Inpaint, MaskedContent
from orchestrator.catalog import Catalog
from orchestrator.store.metadata import input_fields
from tests.orchestrator.catalog.catalog_samples import catalog_dir
from tests.orchestrator.normalize.test_normalize_image_input import SHA_B, fails, resolved, run


@pytest.fixture(scope="module")
def catalog(tmp_path_factory) -> Catalog:
    return Catalog(catalog_dir(tmp_path_factory.mktemp("a1111_inpaint")))


IMAGE = {"inpaint_input_image": resolved(640, 384), "inpaint_mask_image": resolved(640, 384, SHA_B)}


def test_only_masked_keeps_the_image_size_and_samples_at_the_asked_size(catalog):
    job = run(catalog, IMAGE, prompt="x", inpaint_strength=0.75,
              inpaint_a1111={"inpaint_full_res_padding": 32, "width": 512, "height": 512})
    task = job.tasks[0]
    method = task.method()
    assert isinstance(method, Inpaint) and (task.width, task.height) == (640, 384)
    assert method.a1111 == A1111Inpaint(blur_x=4, blur_y=4, content=MaskedContent.fill, only_masked=True,
                                        padding=32, round_mask=True, width=512, height=512)
    assert method.denoise == 0.75 and method.engine is None and method.respective_field == 1.0
    use = job.images[0].input
    assert dict(input_fields.a1111_entries(use)).items() >= {"Mask blur": 4, "Inpaint area": "Only masked",
                                                     "Masked area padding": 32, "Masked content": "fill"}.items()
    assert input_fields.fooocus_fields(use)["inpaint_mask_blur"] == 4
    assert input_fields.from_a1111({k: str(v) for k, v in input_fields.a1111_entries(use)}) == use


def test_the_whole_picture_and_original_content_say_nothing_of_area_or_content(catalog):
    job = run(catalog, IMAGE, prompt="x", inpaint_a1111={"inpaint_full_res": False, "inpainting_fill": 1,
                                                         "mask_blur_x": 2, "mask_blur_y": 6})
    steps = job.tasks[0].method().a1111
    assert (steps.only_masked, steps.width, steps.height, steps.content) == (False, 640, 384, MaskedContent.original)
    keys = dict(input_fields.a1111_entries(job.images[0].input))
    assert not {"Mask blur", "Inpaint area", "Masked area padding", "Masked content"} & set(keys)  # as A1111


def test_fooocus_tasks_carry_no_a1111_steps(catalog):
    task = run(catalog, IMAGE, prompt="x").tasks[0]
    assert task.method().a1111 is msgspec.UNSET and b'"a1111":' not in msgspec.json.encode(task)


@pytest.mark.parametrize(("inputs", "fields", "field"), [
    ({"uov_input_image": resolved(1024, 1024)}, {"uov_method": "Vary (Subtle)", "inpaint_a1111": {}},
     "inpaint_a1111"),
    ({"inpaint_input_image": resolved(640, 384)}, {}, "inpaint_mask_image"),
    (IMAGE, {"outpaint_selections": ["Left"], "inpaint_a1111": {}}, "outpaint_selections"),
    (IMAGE, {"inpaint_a1111": {"width": 500}}, "inpaint_a1111.width"),
    (IMAGE, {"inpaint_a1111": {"inpaint_full_res": False, "width": 512}}, "inpaint_a1111.width"),
    ({"inpaint_input_image": resolved(500, 300), "inpaint_mask_image": resolved(500, 300, SHA_B)},
     {"inpaint_a1111": {"inpaint_full_res": False}}, "inpaint_input_image"),
    ({"inpaint_input_image": resolved(500, 300), "inpaint_mask_image": resolved(500, 300, SHA_B)},
     {"inpaint_a1111": {}}, "inpaint_a1111.width"),  # not given: the image's 500, not a multiple of 8
])
def test_what_cannot_run_is_refused_by_name(catalog, inputs, fields, field):
    assert fails(catalog, inputs, prompt="x", **fields).field == field


def test_fooocus_knobs_asked_for_are_said_to_do_nothing(catalog):
    job = run(catalog, IMAGE, prompt="x", inpaint_a1111={}, inpaint_respective_field=0.3, inpaint_erode_or_dilate=5,
              inpaint_engine="v1")
    said = " ".join(job.warnings)
    for name in ("inpaint_respective_field", "inpaint_erode_or_dilate", "inpaint_engine v1"):
        assert name in said
    quiet = run(catalog, IMAGE, prompt="x", inpaint_a1111={})  # the built-in values say nothing
    assert not any("does nothing" in w or "does not run" in w for w in quiet.warnings)
