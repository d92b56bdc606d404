"""JSON-RPC 2.0 over newline-delimited frames, and the parameter/result shapes of each method.

A frame is one UTF-8 JSON object followed by `\\n`; a response may be followed by raw attachments, once the
client has asked for them (attachments.py). `decode_frame` never raises: garbage comes back as a
`FrameError` carrying the JSON-RPC code to answer with.
"""

from __future__ import annotations

import enum
from typing import Any, Union

import msgspec

from contract.attachments import sizes_problem
from contract.events import FailureKind
from contract.task import CONTRACT_VERSION

# Standard JSON-RPC codes.
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
# Project codes (the -32000 … -32099 server range).
BUSY = -32000
UNKNOWN_MODEL = -32001
CANCELLED = -32002
OUT_OF_MEMORY = -32003
VERSION_MISMATCH = -32004
UNKNOWN_TASK = -32005
UNSUPPORTED = -32006
GENERATION_FAILED = -32010

FAILURE_CODES: dict[FailureKind, int] = {
    FailureKind.bad_request: INVALID_PARAMS,
    FailureKind.unsupported: UNSUPPORTED,
    FailureKind.unknown_model: UNKNOWN_MODEL,
    FailureKind.busy: BUSY,
    FailureKind.cancelled: CANCELLED,
    FailureKind.out_of_memory: OUT_OF_MEMORY,
    FailureKind.version_mismatch: VERSION_MISMATCH,
    FailureKind.unknown_task: UNKNOWN_TASK,
    FailureKind.internal: GENERATION_FAILED,
}

RequestId = Union[int, str]


# `jsonrpc` is always written (decode_frame requires it); absent params stay absent (UNSET is never encoded).
class Request(msgspec.Struct, frozen=True, kw_only=True):
    id: RequestId
    method: str
    params: Any = msgspec.UNSET
    jsonrpc: str = "2.0"


class Notification(msgspec.Struct, frozen=True, kw_only=True):
    method: str
    params: Any = msgspec.UNSET
    jsonrpc: str = "2.0"


class RpcError(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    code: int
    message: str
    data: Any = None


class Response(msgspec.Struct, frozen=True, kw_only=True):
    id: RequestId
    result: Any
    jsonrpc: str = "2.0"
    # The sizes of the raw attachments that follow this frame's newline (attachments.py); unset: none.
    attachments: list[int] = msgspec.UNSET  # type: ignore[assignment]


class ErrorResponse(msgspec.Struct, frozen=True, kw_only=True):
    id: RequestId | None
    error: RpcError
    jsonrpc: str = "2.0"


class FrameError(msgspec.Struct, frozen=True, kw_only=True):
    """A line that is not a valid JSON-RPC message; `id` is set when it could be read."""

    code: int
    message: str
    id: RequestId | None = None


Message = Union[Request, Notification, Response, ErrorResponse]


# ----- method parameters and results -------------------------------------------------------------


class StopMode(str, enum.Enum):
    stop = "stop"  # end the task at the next step, return the finished images marked stopped
    skip = "skip"  # drop the current image and go on with the next


class StopParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    task_id: str
    mode: StopMode = StopMode.stop


class ProgressParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    task_id: str | None = None


class FramingParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`framing` asks the worker for a way of framing its answers on this connection."""

    attachments: bool = False


class Framing(msgspec.Struct, frozen=True, kw_only=True):
    """The framing the worker now uses: what it was asked for, if it can."""

    attachments: bool = False


class Ack(msgspec.Struct, frozen=True, kw_only=True):
    ok: bool = True
    task_id: str | None = None


class Health(msgspec.Struct, frozen=True, kw_only=True):
    contract_version: int
    kernel: str
    device: str
    busy: bool
    task_id: str | None = None
    loaded_models: list[str] = []
    pid: int = 0
    samplers: list[str] = []
    schedulers: list[str] = []
    # The image inputs the kernel runs: methods ("vary", "upscale", "inpaint") and options ("upscale.upscaler":
    # a super-resolution model; "inpaint.engine": Fooocus's inpaint head + patch). Empty: text to image only.
    image_inputs: list[str] = []
    # "loading" until the kernel module (torch …) is imported, then "ready"; "failed" if it could not be.
    kernel_state: str = "ready"
    kernel_error: str | None = None


# ----- framing ------------------------------------------------------------------------------------

_encoder = msgspec.json.Encoder()


class _Envelope(msgspec.Struct, kw_only=True):
    # `Raw` keeps params/result undecoded so each method decodes them with its own struct.
    jsonrpc: Any = msgspec.UNSET
    id: Any = msgspec.UNSET
    method: Any = msgspec.UNSET
    params: msgspec.Raw = msgspec.UNSET
    result: msgspec.Raw = msgspec.UNSET
    error: Any = msgspec.UNSET
    attachments: Any = msgspec.UNSET


_envelope_decoder = msgspec.json.Decoder(_Envelope)
_error_decoder = msgspec.json.Decoder(RpcError)


def encode_frame(message: Message | msgspec.Struct) -> bytes:
    """One frame; a Response with `attachments` set must be followed by exactly those bytes."""
    return _encoder.encode(message) + b"\n"


def _valid_id(value: Any) -> bool:
    return (isinstance(value, (int, str)) and not isinstance(value, bool)) or value is None


def decode_frame(line: bytes | str) -> Message | FrameError:
    """One line → a message. `params`/`result` stay `msgspec.Raw` for the receiver to decode."""
    if isinstance(line, str):
        line = line.encode("utf-8", "surrogatepass")
    line = line.strip()
    try:
        env = _envelope_decoder.decode(line)
    except msgspec.ValidationError:
        return FrameError(code=INVALID_REQUEST, message="a frame must be a JSON object")
    except (msgspec.DecodeError, UnicodeDecodeError, ValueError) as exc:
        return FrameError(code=PARSE_ERROR, message=f"parse error: {exc}")
    except RecursionError:  # msgspec raises it for very deeply nested arrays/objects
        return FrameError(code=PARSE_ERROR, message="parse error: JSON nested too deeply")
    rid = env.id if env.id is not msgspec.UNSET else None
    if not _valid_id(rid):
        return FrameError(code=INVALID_REQUEST, message="id must be a string, an integer or null")
    if env.jsonrpc != "2.0":
        return FrameError(code=INVALID_REQUEST, message='"jsonrpc" must be "2.0"', id=rid)
    if env.attachments is not msgspec.UNSET and (env.result is msgspec.UNSET or rid is None):
        return FrameError(code=INVALID_REQUEST, message="only a response may carry attachments", id=rid)
    params: Any = None if env.params is msgspec.UNSET else env.params
    if env.method is not msgspec.UNSET:
        if not isinstance(env.method, str) or not env.method:
            return FrameError(code=INVALID_REQUEST, message="method must be a non-empty string", id=rid)
        if env.id is msgspec.UNSET:
            return Notification(method=env.method, params=params)
        if rid is None:
            return FrameError(code=INVALID_REQUEST, message="a request id must not be null")
        return Request(id=rid, method=env.method, params=params)
    if env.result is not msgspec.UNSET and rid is not None:
        if env.attachments is not msgspec.UNSET:
            problem = sizes_problem(env.attachments)
            if problem is not None:
                return FrameError(code=INVALID_REQUEST, message=problem, id=rid)
            return Response(id=rid, result=env.result, attachments=env.attachments)
        return Response(id=rid, result=env.result)
    if env.error is not msgspec.UNSET:
        try:
            error = msgspec.convert(env.error, RpcError)
        except msgspec.ValidationError as exc:
            return FrameError(code=INVALID_REQUEST, message=f"malformed error object: {exc}", id=rid)
        return ErrorResponse(id=rid, error=error)
    return FrameError(code=INVALID_REQUEST, message="neither a request, a notification nor a response", id=rid)


def decode_params(raw: Any, type_: type, *, method: str) -> Any:
    """Decode `params` (Raw or None) into `type_`; raises msgspec.ValidationError with the field path."""
    if raw is None or raw is msgspec.UNSET:
        raw = msgspec.Raw(b"{}")
    if isinstance(raw, msgspec.Raw):
        return msgspec.json.decode(raw, type=type_)
    return msgspec.convert(raw, type_)


def version_of(raw: Any) -> int | None:
    """The `contract_version` a params object declares, if any (read before a full decode)."""

    class _V(msgspec.Struct):
        contract_version: int | None = None

    try:
        if isinstance(raw, msgspec.Raw):
            return msgspec.json.decode(raw, type=_V).contract_version
        return msgspec.convert(raw, _V).contract_version
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None


__all__ = [
    "CONTRACT_VERSION",
    "Ack",
    "ErrorResponse",
    "FrameError",
    "Framing",
    "FramingParams",
    "Health",
    "Message",
    "Notification",
    "ProgressParams",
    "Request",
    "Response",
    "RpcError",
    "StopMode",
    "StopParams",
    "decode_frame",
    "decode_params",
    "encode_frame",
    "version_of",
]
