"""JSON-RPC framing: messages round-trip through frames; garbage becomes a FrameError, never an exception."""

from __future__ import annotations

import json

import msgspec
import pytest
from contract_strategies import for_type, json_values
from hypothesis import given, settings
from hypothesis import strategies as st

from contract import rpc
from contract.events import FailureKind, Progress, Stage
from contract.rpc import (
    ErrorResponse,
    FrameError,
    Notification,
    Request,
    Response,
    RpcError,
    decode_frame,
    encode_frame,
)

MESSAGE_TYPES = (Request, Notification, Response, ErrorResponse)
ids = st.integers(-(2**63), 2**63 - 1) | st.text(max_size=20)
methods = st.text(min_size=1, max_size=20)


def _params(value):
    """A decoded frame keeps params/result as msgspec.Raw; absent params read as None or UNSET."""
    if value is None or value is msgspec.UNSET:
        return None
    return msgspec.json.decode(value)


def _sent(value):
    return None if value is msgspec.UNSET else value


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=200))
def test_garbage_bytes_give_a_frame_error(data):
    result = decode_frame(data)
    assert isinstance(result, (FrameError, *MESSAGE_TYPES))
    try:
        parsed = json.loads(data)
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        assert isinstance(result, FrameError)
        assert result.code in (rpc.PARSE_ERROR, rpc.INVALID_REQUEST)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_garbage_text_never_raises(text):
    assert isinstance(decode_frame(text), (FrameError, *MESSAGE_TYPES))


envelope_keys = st.sampled_from(["jsonrpc", "id", "method", "params", "result", "error", "extra"])


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(envelope_keys, json_values | st.just("2.0"), max_size=6))
def test_json_objects_of_any_shape_never_raise(obj):
    result = decode_frame(json.dumps(obj).encode())
    assert isinstance(result, (FrameError, *MESSAGE_TYPES))
    if isinstance(result, FrameError):
        assert result.code in (rpc.PARSE_ERROR, rpc.INVALID_REQUEST)


@settings(max_examples=150, deadline=None)
@given(ids, methods, json_values)
def test_request_round_trip(rid, method, params):
    decoded = decode_frame(encode_frame(Request(id=rid, method=method, params=params)))
    assert isinstance(decoded, Request)
    assert (decoded.id, decoded.method, _params(decoded.params)) == (rid, method, params)


@settings(max_examples=150, deadline=None)
@given(methods, json_values)
def test_notification_round_trip(method, params):
    decoded = decode_frame(encode_frame(Notification(method=method, params=params)))
    assert isinstance(decoded, Notification)
    assert (decoded.method, _params(decoded.params)) == (method, params)


@settings(max_examples=150, deadline=None)
@given(ids, json_values)
def test_response_round_trip(rid, result):
    decoded = decode_frame(encode_frame(Response(id=rid, result=result)))
    assert isinstance(decoded, Response)
    assert (decoded.id, msgspec.json.decode(decoded.result)) == (rid, result)


@settings(max_examples=150, deadline=None)
@given(ids | st.none(), for_type(RpcError))
def test_error_response_round_trip(rid, error):
    decoded = decode_frame(encode_frame(ErrorResponse(id=rid, error=error)))
    assert isinstance(decoded, ErrorResponse)
    assert decoded.id == rid
    assert (decoded.error.code, decoded.error.message, _sent(decoded.error.data)) == (
        error.code,
        error.message,
        _sent(error.data),
    )


@settings(max_examples=60, deadline=None)
@given(for_type(Progress))
def test_progress_notification_carries_a_typed_event(progress):
    frame = encode_frame(Notification(method="progress", params=progress))
    assert frame.endswith(b"\n") and frame.count(b"\n") == 1  # one frame is one line
    decoded = decode_frame(frame)
    assert rpc.decode_params(decoded.params, Progress, method="progress") == progress


def test_request_without_params_round_trips():
    decoded = decode_frame(encode_frame(Request(id=7, method="health")))
    assert isinstance(decoded, Request) and _params(decoded.params) is None
    assert rpc.decode_params(decoded.params, rpc.ProgressParams, method="progress") == rpc.ProgressParams()


@pytest.mark.parametrize(
    ("line", "code", "rid"),
    [
        (b"", rpc.PARSE_ERROR, None),
        (b"{", rpc.PARSE_ERROR, None),
        (b"\xff\xfe", rpc.PARSE_ERROR, None),
        (b"[1, 2]", rpc.INVALID_REQUEST, None),
        (b'"health"', rpc.INVALID_REQUEST, None),
        (b'{"id": 1, "method": "health"}', rpc.INVALID_REQUEST, 1),  # no jsonrpc
        (b'{"jsonrpc": "1.0", "id": "a", "method": "health"}', rpc.INVALID_REQUEST, "a"),
        (b'{"jsonrpc": "2.0", "id": true, "method": "health"}', rpc.INVALID_REQUEST, None),
        (b'{"jsonrpc": "2.0", "id": 1.5, "method": "health"}', rpc.INVALID_REQUEST, None),
        (b'{"jsonrpc": "2.0", "id": null, "method": "health"}', rpc.INVALID_REQUEST, None),
        (b'{"jsonrpc": "2.0", "id": 3, "method": ""}', rpc.INVALID_REQUEST, 3),
        (b'{"jsonrpc": "2.0", "id": 3, "method": 5}', rpc.INVALID_REQUEST, 3),
        (b'{"jsonrpc": "2.0", "id": 4}', rpc.INVALID_REQUEST, 4),
        (b'{"jsonrpc": "2.0", "id": 4, "error": {"code": "x"}}', rpc.INVALID_REQUEST, 4),
    ],
)
def test_invalid_frames_name_their_code(line, code, rid):
    result = decode_frame(line)
    assert isinstance(result, FrameError)
    assert (result.code, result.id) == (code, rid)
    assert result.message


@pytest.mark.parametrize("member", ["params", "result", "error"])
def test_deeply_nested_json_is_a_parse_error(member):
    nested = b"[" * 100_000 + b"]" * 100_000
    line = b'{"jsonrpc": "2.0", "id": 1, "method": "x", "' + member.encode() + b'": ' + nested + b"}"
    result = decode_frame(line)
    assert isinstance(result, FrameError) and result.code == rpc.PARSE_ERROR


def test_frames_tolerate_crlf_and_str_input():
    assert isinstance(decode_frame('{"jsonrpc": "2.0", "method": "stop"}\r\n'), Notification)
    assert isinstance(decode_frame(b'  {"jsonrpc": "2.0", "id": "x", "result": null}\n'), Response)


def test_every_failure_kind_has_a_code():
    assert set(rpc.FAILURE_CODES) == set(FailureKind)
    project = [
        v for k, v in vars(rpc).items() if k.isupper() and isinstance(v, int) and -32099 <= v <= -32000
    ]
    assert len(project) == len(set(project)), "project error codes must be distinct"


def test_decode_params_reports_the_field_path():
    raw = msgspec.Raw(b'{"task_id": "t", "mode": "pause"}')
    with pytest.raises(msgspec.ValidationError, match=r"\$\.mode"):
        rpc.decode_params(raw, rpc.StopParams, method="stop")
    with pytest.raises(msgspec.ValidationError, match="unknown field"):
        rpc.decode_params(msgspec.Raw(b'{"task_id": "t", "force": true}'), rpc.StopParams, method="stop")


def test_version_of_reads_only_the_version():
    assert rpc.version_of(msgspec.Raw(b'{"contract_version": 3, "anything": [1]}')) == 3
    assert rpc.version_of(msgspec.Raw(b'{"task_id": "t"}')) is None
    assert rpc.version_of(msgspec.Raw(b'{"contract_version": "two"}')) is None
    assert rpc.version_of({"contract_version": 2}) == 2
    assert Progress(task_id="t", image_index=0, images_total=1, step=1, steps_total=1).stage is Stage.sampling
