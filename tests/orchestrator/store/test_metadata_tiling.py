"""Seamless tiling in the embedded metadata: A1111's `Tiling: True` in the a1111 scheme (as A1111's own
create_infotext writes it, only when on), remgo's `tiling` key in the fooocus scheme; both read back."""

from __future__ import annotations

import json

import msgspec

from orchestrator.store.metadata.text import embedded_text, parse
from tests.orchestrator.store.test_metadata import BASE

TILED = msgspec.structs.replace(BASE, tiling=True)


def test_the_a1111_scheme_says_tiling_true_only_when_on():
    last = embedded_text(TILED, "a1111")["parameters"].rsplit("\n", 1)[1]
    assert "Tiling: True" in last.split(", ")
    assert "Tiling" not in embedded_text(BASE, "a1111")["parameters"]


def test_the_fooocus_scheme_carries_a_tiling_key_only_when_on():
    assert json.loads(embedded_text(TILED, "fooocus")["parameters"])["tiling"] is True
    assert "tiling" not in json.loads(embedded_text(BASE, "fooocus")["parameters"])


def test_both_schemes_read_tiling_back():
    for scheme in ("a1111", "fooocus"):
        assert parse(embedded_text(TILED, scheme)["parameters"]).tiling is True, scheme
        assert parse(embedded_text(BASE, scheme)["parameters"]).tiling is False, scheme


def test_an_infotext_of_a1111_itself_with_tiling():
    text = ("a brick wall texture\nNegative prompt: blurry\n"
            "Steps: 20, Sampler: Euler a, Schedule type: Automatic, CFG scale: 7, Seed: 5, Size: 512x512, "
            "Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Tiling: True, Version: v1.10.1")
    params = parse(text)
    assert params is not None and params.tiling is True
    assert parse(text.replace(", Tiling: True", "")).tiling is False


def test_a_tiling_value_that_is_not_a_boolean_makes_fooocus_text_unreadable():
    data = json.loads(embedded_text(TILED, "fooocus")["parameters"])
    data["tiling"] = "yes"
    assert parse(json.dumps(data)) is None
