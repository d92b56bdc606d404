"""The POST /v1/jobs body: v2 and v1 decoding, and errors that carry a JSON path."""

import msgspec
import pytest

from contract.legacy import to_legacy_payload
from contract.request import GenerateRequest
from orchestrator.request_body import BodyError, decode_request


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
        (b'{"promt": "x"}', "$.promt", "did you mean prompt"),
        (b'{"loras": [[true, "a", 5.0]]}', "$.loras[0][2]", "<= 2.0"),
        (b'{"guidance_scale": 0.5}', "$.guidance_scale", ">= 1.0"),
        (b'{"fooocus_args_contract_version": 2, "fooocus_args": []}', "$.fooocus_args_contract_version", "must be 1"),
    ],
)
def test_errors_carry_the_path(body, field, words) -> None:
    with pytest.raises(BodyError) as err:
        decode_request(body)
    assert err.value.field == field
    assert words in err.value.message
