"""Prompt processing in Fooocus's order: lines, LoRA tags, wildcards, arrays, styles, negatives."""

from __future__ import annotations

import random

import msgspec
import pytest

from contract.request import GenerateRequest
from orchestrator.catalog import Catalog
from orchestrator.normalize import NormalizeError, normalize
from orchestrator.normalize.prompts import (
    expand_arrays,
    expand_wildcards,
    extract_lora_tags,
    split_lines,
    tidy_commas,
)
from tests.orchestrator.catalog.catalog_samples import catalog_dir


@pytest.fixture(scope="module")
def catalog(tmp_path_factory) -> Catalog:
    return Catalog(catalog_dir(tmp_path_factory.mktemp("prompts")))


def run(catalog: Catalog, **fields):
    fields.setdefault("image_seed", 11)
    return normalize(msgspec.convert(fields, GenerateRequest), catalog, job_id="job", rng=random.Random(0))


def styles(catalog: Catalog):
    return catalog.snapshot().styles


def test_lines_and_cleanup():
    assert split_lines("  a   cat ,\n\n ,, second\tline  \n") == ["a cat", "second line"]
    assert tidy_commas("a ,b,, c ,  ,d") == "a, b, c, d"
    assert extract_lora_tags("a cat, <lora:foo:0.5>, dog <lora:sub/bar:-1>,<lora:baz>") == (
        "a cat, dog", [("foo", 0.5), ("sub/bar", -1.0), ("baz", 1.0)])
    assert extract_lora_tags("no tags,here") == ("no tags,here", [])


def test_main_line_extra_lines_and_negatives(catalog):
    job = run(catalog, prompt="a cat ,sitting\nsecond chunk\n\n third", negative_prompt="blurry\nugly",
              style_selections=["Fooocus Enhance"], image_number=1)
    image, task = job.images[0], job.tasks[0]
    assert task.positive == ["a cat, sitting", "second chunk", "third"]
    enhance = styles(catalog)["Fooocus Enhance"].negative_prompt
    assert task.negative == [enhance, "blurry", "ugly"]  # style negatives, then the user's, then extras
    assert image.prompt == "a cat, sitting\nsecond chunk\nthird" and image.negative_prompt == "blurry\nugly"


def test_style_with_placeholder_wraps_the_prompt(catalog):
    job = run(catalog, prompt="a fox", style_selections=["Fooocus Sharp", "SAI Anime"], image_number=1)
    sharp, anime = styles(catalog)["Fooocus Sharp"], styles(catalog)["SAI Anime"]
    assert job.tasks[0].positive == [sharp.prompt.replace("{prompt}", "a fox"),
                                     anime.prompt.replace("{prompt}", "a fox")]
    assert job.tasks[0].negative == [sharp.negative_prompt, anime.negative_prompt]


def test_styles_without_placeholder_put_the_bare_prompt_first(catalog):
    job = run(catalog, prompt="a fox", style_selections=["Fooocus Negative", "Fooocus Enhance"], image_number=1)
    assert job.tasks[0].positive == ["a fox"]
    assert job.tasks[0].negative == [styles(catalog)["Fooocus Negative"].negative_prompt,
                                     styles(catalog)["Fooocus Enhance"].negative_prompt]


def test_no_styles_and_empty_prompt(catalog):
    task = run(catalog, prompt="", style_selections=[], image_number=1).tasks[0]
    assert task.positive == [""] and task.negative == [""]


def test_unknown_style_names_its_index(catalog):
    with pytest.raises(NormalizeError) as err:
        run(catalog, style_selections=["Fooocus Sharp", "Fooocus Sharpp"])
    assert err.value.field == "style_selections[1]" and err.value.suggestions[0] == "Fooocus Sharp"


def test_raw_style_names_are_accepted(catalog):
    job = run(catalog, prompt="x", style_selections=["sai-anime", "fooocus-v2", "random-style"], image_number=1)
    assert job.images[0].styles[:2] == ["Fooocus V2", "SAI Anime"]
    assert job.request.style_selections == ["SAI Anime", "Fooocus V2", "Random Style"]


def test_random_style_is_seeded_per_image(catalog):
    first = run(catalog, prompt="x", style_selections=["Random Style"], image_number=6, image_seed=100)
    again = run(catalog, prompt="x", style_selections=["Random Style"], image_number=6, image_seed=100)
    picked = [img.styles[0] for img in first.images]
    assert picked == [img.styles[0] for img in again.images]
    assert len(set(picked)) > 1 and all(p in styles(catalog) for p in picked)
    shifted = run(catalog, prompt="x", style_selections=["Random Style"], image_number=1, image_seed=101)
    assert shifted.images[0].styles == first.images[1].styles  # image i's pick depends on its own seed only


def test_expansion_warning_only_with_a_prompt(catalog):
    # Asked for by the request: the default preset's Fooocus V2 is left out once, at the scan.
    asked = ["Fooocus V2", "Fooocus Sharp"]
    assert not any("expansion" in w for w in run(catalog, prompt="", image_number=1, style_selections=asked).warnings)
    assert any("expansion" in w for w in run(catalog, prompt="a", image_number=1, style_selections=asked).warnings)
    assert not any("expansion" in w for w in run(catalog, prompt="a", image_number=1).warnings)


def test_inline_lora_tags(catalog):
    job = run(catalog, prompt="a cat <lora:film_grain_xl:0.4>, soft light, <lora:add-detail-xl:1.2>",
              image_number=1)
    task = job.tasks[0]
    assert [(lo.name, lo.weight) for lo in task.loras] == [
        ("sd_xl_offset_example-lora_1.0.safetensors", 0.1), ("film_grain_xl.safetensors", 0.4),
        ("detail/add-detail-xl.safetensors", 1.2)]
    assert task.positive[0].startswith("a cat, soft light")
    assert "<lora:" not in job.images[0].prompt
    dup = run(catalog, prompt="x <lora:sd_xl_offset_example-lora_1.0:0.9>", image_number=1)
    assert [lo.weight for lo in dup.tasks[0].loras] == [0.1] and any("already in loras" in w for w in dup.warnings)


@pytest.mark.parametrize(("prompt", "text"), [("x <lora:film_grainxl:0.4>", "names no LoRA"),
                                              ("x <lora:film_grain_xl:2.5>", "within -2…2")])
def test_bad_inline_lora_tags(catalog, prompt, text):
    with pytest.raises(NormalizeError) as err:
        run(catalog, prompt=prompt)
    assert err.value.field == "prompt" and text in err.value.message


def test_wildcards_are_seeded_nested_and_found_in_sub_folders(catalog):
    lists = catalog.snapshot().wildcards
    job = run(catalog, prompt="__creature__ in a __landscape__", image_number=4, style_selections=[])
    again = run(catalog, prompt="__creature__ in a __landscape__", image_number=4, style_selections=[])
    prompts = [img.prompt for img in job.images]
    assert prompts == [img.prompt for img in again.images]
    assert all("__" not in p for p in prompts) and len(set(prompts)) > 1
    assert all(any(p.endswith(place) for place in lists["landscape"]) for p in prompts)


def test_wildcards_in_order(catalog):
    colors = catalog.snapshot().wildcards["color"]
    job = run(catalog, prompt="a __color__ ball", image_number=3, read_wildcards_in_order=True,
              style_selections=[])
    assert [img.prompt for img in job.images] == [f"a {c} ball" for c in colors[:3]]


def test_wildcards_reach_negative_and_extra_lines(catalog):
    job = run(catalog, prompt="x\nmore __color__", negative_prompt="__animal__", image_number=1,
              style_selections=[], read_wildcards_in_order=True)
    lists = catalog.snapshot().wildcards
    assert job.tasks[0].positive == ["x", f"more {lists['color'][0]}"]
    assert job.tasks[0].negative == [lists["animal"][0]]


def test_missing_wildcard_is_a_plain_word_and_said_so(catalog):
    job = run(catalog, prompt="a __unicorn__", image_number=1, style_selections=[])
    assert job.images[0].prompt == "a unicorn"
    assert "no wildcard file for __unicorn__; the name was used as a plain word" in job.warnings


def test_wildcard_expansion_is_bounded():
    loop = {"a": ["__a__ x"]}
    out = expand_wildcards("__a__", loop, random.Random(0), 0, False, set())
    assert out.count("x") == 64 and "__a__" in out


def test_arrays_walk_every_combination():
    assert [expand_arrays("[[a,b]] [[1, 2, 3]]", i) for i in range(7)] == [
        "a 1", "b 1", "a 2", "b 2", "a 3", "b 3", "a 1"]
    assert expand_arrays("no arrays", 3) == "no arrays"


def test_arrays_apply_to_the_main_prompt_per_image(catalog):
    job = run(catalog, prompt="a [[red, blue]] car\n[[kept]] as written", image_number=3, style_selections=[])
    assert [img.prompt.split("\n")[0] for img in job.images] == ["a red car", "a blue car", "a red car"]
    assert job.tasks[0].positive[1] == "[[kept]] as written"
