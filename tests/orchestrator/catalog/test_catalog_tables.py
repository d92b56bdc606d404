"""Aspect ratios and the performance table."""

from __future__ import annotations

import msgspec
import pytest

from contract.request import GenerateRequest, Performance
from orchestrator.catalog.tables import (
    BUILTIN,
    PERFORMANCE,
    SDXL_SIZES,
    BuiltinDefaults,
    aspect_ratios,
    parse_size,
    size_problem,
)


def test_the_26_sdxl_sizes():
    assert len(SDXL_SIZES) == 26
    assert SDXL_SIZES[0] == (704, 1408) and SDXL_SIZES[-1] == (1728, 576)
    assert (1152, 896) in SDXL_SIZES and (1024, 1024) in SDXL_SIZES
    rows = aspect_ratios()
    assert rows[14] == {"value": "1152*896", "label": "1152×896", "width": 1152, "height": 896, "ratio": "9:7"}


@pytest.mark.parametrize("text", ["1152*896", "1152×896", "1152x896", "1152 X 896", " 1152 * 896 ",
                                  '1152×896 <span style="color: grey;"> ∣ 9:7</span>', "1152*896 | 9:7"])
def test_size_spellings(text):
    assert parse_size(text) == (1152, 896)


@pytest.mark.parametrize("text", ["", "square", "1152", "1152*", "1152*896px", "-8*8"])
def test_not_sizes(text):
    assert parse_size(text) is None


def test_custom_size_limits():
    assert size_problem(1000, 1000) is None
    assert "multiple of 8" in size_problem(1001, 1000)
    assert "outside" in size_problem(128, 1024)
    assert "outside" in size_problem(1024, 8192)


def test_performance_table():
    steps = {p: m.steps for p, m in PERFORMANCE.items()}
    assert steps == {Performance.quality: 60, Performance.speed: 30, Performance.extreme_speed: 8,
                     Performance.lightning: 4, Performance.hyper_sd: 4}
    assert PERFORMANCE[Performance.extreme_speed].lora == "sdxl_lcm_lora.safetensors"
    assert PERFORMANCE[Performance.lightning].lora == "sdxl_lightning_4step_lora.safetensors"
    hyper = PERFORMANCE[Performance.hyper_sd]
    assert (hyper.lora, hyper.lora_weight) == ("sdxl_hyper_sd_4step_lora.safetensors", 0.8)
    assert (PERFORMANCE[Performance.extreme_speed].sampler, PERFORMANCE[Performance.extreme_speed].scheduler) == (
        "lcm", "lcm")
    assert (PERFORMANCE[Performance.lightning].sampler, PERFORMANCE[Performance.lightning].scheduler) == (
        "euler", "sgm_uniform")
    assert (hyper.sampler, hyper.scheduler) == ("dpmpp_sde_gpu", "karras")
    assert not PERFORMANCE[Performance.quality].fast and not PERFORMANCE[Performance.speed].fast


def test_every_builtin_default_is_a_request_value_the_boundary_accepts():
    """Defaults fill request fields by name: one that names no field, or a value the request's own
    constraints refuse, would be a default nothing uses or a job no client could ask for."""
    defaults = msgspec.json.decode(msgspec.json.encode(BUILTIN))
    assert set(defaults) == set(BuiltinDefaults.__struct_fields__) <= set(GenerateRequest.__struct_fields__)
    as_request = msgspec.to_builtins(msgspec.convert(defaults, GenerateRequest))
    assert {field: as_request.get(field) for field in defaults} == defaults
