"""Every public contract struct survives JSON encode → decode unchanged, for any value its constraints allow."""

from __future__ import annotations

import msgspec
import pytest
from contract_strategies import for_type
from hypothesis import HealthCheck, given, settings

from contract.schema import public_structs
from contract.task import GenerateTask

STRUCTS = public_structs()


def test_every_exported_struct_is_covered():
    names = {cls.__name__ for cls in STRUCTS}
    assert {"GenerateTask", "GenerateRequest", "Progress", "TaskResult", "Failure", "Health"} <= names
    assert {"Request", "Response", "ErrorResponse", "Notification", "StopParams", "ProgressParams"} <= names


@pytest.mark.parametrize("cls", STRUCTS, ids=lambda cls: cls.__name__)
def test_json_round_trip(cls):
    encoder = msgspec.json.Encoder()
    decoder = msgspec.json.Decoder(cls)

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(for_type(cls))
    def check(value):
        data = encoder.encode(value)
        assert decoder.decode(data) == value
        # Encoding is deterministic: the decoded value encodes to the very same bytes.
        assert encoder.encode(decoder.decode(data)) == data

    check()


@pytest.mark.parametrize("cls", STRUCTS, ids=lambda cls: cls.__name__)
def test_drawn_values_satisfy_the_constraints(cls):
    """Guards the strategies themselves: msgspec.convert re-validates every Meta constraint."""

    @settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(for_type(cls))
    def check(value):
        assert msgspec.convert(msgspec.to_builtins(value), cls) == value

    check()


def test_one_image_keeps_that_images_seed_and_variation_seed():
    task = msgspec.convert({"task_id": "t", "base_model": {"name": "m", "path": "/m"}, "width": 64, "height": 64,
                            "seeds": [5, 6, 7], "variation": {"seeds": [40, 41, 42], "strength": 0.5}}, GenerateTask)
    one = task.one_image(1, task_id="t.1")
    assert (one.task_id, one.seeds, one.variation.seeds, one.variation.strength) == ("t.1", [6], [41], 0.5)
    assert one.variation_of(0) == task.variation_of(1) == (41, 0.5)
    with pytest.raises(msgspec.ValidationError, match=r"variation"):
        msgspec.convert({**msgspec.to_builtins(task), "variation": {"seeds": [40], "strength": 0.5}}, GenerateTask)
