"""A1111's DDIM in the a1111 scheme: remgo runs it on the `a1111_ddim` schedule as `ddim` (eta 0) or
`euler_ancestral` (eta 1); both are `Sampler: DDIM`, and eta 1 adds A1111's `Eta DDIM` key (its sampler writes
a non-default eta under that name, sd_samplers_timesteps.py `eta_infotext_field`), which reading back honours."""

from __future__ import annotations

import msgspec

from orchestrator.store.metadata.text import embedded_text, parse
from tests.orchestrator.store.test_metadata import BASE


def _pairs(params) -> list[str]:
    return embedded_text(params, "a1111")["parameters"].rsplit("\n", 1)[1].split(", ")


def test_eta_one_is_ddim_with_its_eta_and_reads_back():
    params = msgspec.structs.replace(BASE, sampler="euler_ancestral", scheduler="a1111_ddim")
    pairs = _pairs(params)
    assert "Sampler: DDIM" in pairs and "Eta DDIM: 1.0" in pairs
    back = parse(embedded_text(params, "a1111")["parameters"])
    assert (back.sampler, back.scheduler) == ("euler_ancestral", "a1111_ddim")


def test_eta_zero_is_ddim_without_an_eta_and_reads_back():
    params = msgspec.structs.replace(BASE, sampler="ddim", scheduler="a1111_ddim")
    pairs = _pairs(params)
    assert "Sampler: DDIM" in pairs and not any(p.startswith("Eta") for p in pairs)
    back = parse(embedded_text(params, "a1111")["parameters"])
    assert (back.sampler, back.scheduler) == ("ddim", "a1111_ddim")


def test_euler_a_on_another_schedule_stays_euler_a():
    pairs = _pairs(msgspec.structs.replace(BASE, sampler="euler_ancestral", scheduler="normal"))
    assert "Sampler: Euler a" in pairs and not any(p.startswith("Eta") for p in pairs)
