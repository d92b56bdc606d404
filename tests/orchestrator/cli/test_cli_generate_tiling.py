"""`remgo generate --tiling`: the flag asks for seamless tiling, and only when given."""

from __future__ import annotations

import msgspec

from contract.request import GenerateRequest
from orchestrator.cli.generate import build_request
from tests.orchestrator.cli.test_cli_generate import _args


def test_the_tiling_flag_is_the_request_field() -> None:
    body = build_request(_args("a brick wall", "--tiling"))
    assert body == {"prompt": "a brick wall", "tiling": True}
    assert msgspec.convert(body, GenerateRequest).tiling is True
    assert "tiling" not in build_request(_args("a brick wall"))  # not given: the preset's (off by default)
