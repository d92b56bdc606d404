"""The POST /v1/jobs body: v2 and v1 decoding, and errors that carry a JSON path."""

import msgspec
import pytest

from contract.legacy import to_legacy_payload
from contract.request import GenerateRequest
from orchestrator.api.request_body import BodyError, decode_request


def test_v2_and_v1_bodies() -> None:
    request, fmt = decode_request(b'{"prompt": "fox", "image_number": 3}')
    assert fmt == "v2" and request.image_number == 3
    legacy = msgspec.json.encode(to_legacy_payload(GenerateRequest(prompt="owl", image_number=2)))
    request, fmt = decode_request(legacy)
    assert fmt == "v1" and request.prompt == "owl" and request.image_number == 2


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        (b"  ", "$", "empty"),
        (b"{nope", "$", "not valid JSON"),
        (b'"text"', "$", "JSON object"),
        (b'{"promt": "x"}', "$.promt", "unknown field `promt`"),
        (b'{"loras": [[true, "a", 5.0]]}', "$.loras[0][2]", "must be between -2 and 2, got 5"),
        (b'{"guidance_scale": 0.5}', "$.guidance_scale", "must be between 1 and 30, got 0.5"),
        (b'{"fooocus_args_contract_version": 2, "fooocus_args": []}', "$.fooocus_args_contract_version", "must be 1"),
    ],
)
def test_errors_carry_the_path(body, field, words) -> None:
    with pytest.raises(BodyError) as err:
        decode_request(body)
    assert err.value.field == field
    assert words in err.value.message


@pytest.mark.parametrize(
    ("body", "field", "message", "suggestions"),
    [
        (b'{"image_seed": "12"}', "$.image_seed", "must be an integer or null, got a string ('12')", []),
        (b'{"image_number": 1.5}', "$.image_number", "must be an integer or null, got a number with a fraction (1.5)",
         []),
        (b'{"image_number": 0}', "$.image_number", "must be between 1 and 32, got 0", []),
        (b'{"performance_selection": "speed"}', "$.performance_selection",
         "'speed' is not one of Quality, Speed, Extreme Speed, Lightning, Hyper-SD", ["Speed"]),
        (b'{"output_format": "PNG"}', "$.output_format", "'PNG' is not one of png, jpeg, webp", ["png"]),
        (b'{"steps": 30}', "$.steps", "unknown field `steps`", ["overwrite_step"]),
        (b'{"cfg_scale": 7}', "$.cfg_scale", "unknown field `cfg_scale`", ["guidance_scale"]),
        (b'{"loras": [{"nam": "x"}]}', "$.loras[0].nam", "unknown field `nam`", ["name"]),
        (b'{"loras": [{"weight": 1}]}', "$.loras[0].name", "is required and missing", []),
        (b'{"loras": [[true, "x"]]}', "$.loras[0]", "must have exactly 3 items, got 2", []),
        (b'{"style_selections": "Fooocus V2"}', "$.style_selections",
         "must be an array or null, got a string ('Fooocus V2')", []),
        (b'{"prompt": "' + b"a" * 20001 + b'"}', "$.prompt", "must have at most 20000 characters, got 20001", []),
    ],
)
def test_errors_are_worded_for_people_with_close_names(body, field, message, suggestions) -> None:
    with pytest.raises(BodyError) as err:
        decode_request(body)
    assert (err.value.field, err.value.message, err.value.suggestions) == (field, message, suggestions)
    assert "Expected" not in err.value.message and "did you mean" not in err.value.message
