"""Images beside the frame: a result's files leave the JSON and come back whole; frames that announce them are
read by a plain reader (the standard library's json, then byte counts); bad announcements are frame errors."""

from __future__ import annotations

import json

import msgspec
import pytest
from contract_strategies import for_type
from hypothesis import given, settings

from contract.attachments import ATTACHMENTS_LIMIT, attach_images, detach_images
from contract.events import ImageResult, TaskResult
from contract.rpc import INVALID_REQUEST, FrameError, Response, decode_frame, encode_frame
from contract.task import OutputFormat


def plain(result: TaskResult) -> TaskResult:
    """As a worker makes it: every file in `data`."""
    return msgspec.structs.replace(
        result, images=[msgspec.structs.replace(i, attachment=None) for i in result.images])


def image(index: int, data: bytes) -> ImageResult:
    return ImageResult(index=index, seed=index, format=OutputFormat.png, width=8, height=8, data=data)


@settings(max_examples=100, deadline=None)
@given(for_type(TaskResult))
def test_detached_files_come_back_whole(drawn):
    result = plain(drawn)
    detached, files = detach_images(result)
    assert files == [i.data for i in result.images]
    assert [(i.data, i.attachment) for i in detached.images] == [(b"", n) for n in range(len(files))]
    assert attach_images(detached, files) == result


def test_a_frame_with_attachments_reads_as_json_then_bytes():
    files = [b"\x89PNG first\n\x00\xff", b"", b"second file, with a \n newline"]
    detached, blobs = detach_images(TaskResult(task_id="t", images=[image(i, f) for i, f in enumerate(files)]))
    stream = encode_frame(Response(id=7, result=detached, attachments=[len(b) for b in blobs])) + b"".join(blobs)
    stream += encode_frame(Response(id=8, result=None))  # the next frame starts right after the bytes

    line, rest = stream.split(b"\n", 1)
    frame = json.loads(line)  # a reader that knows nothing of remgo
    assert frame["jsonrpc"] == "2.0" and frame["id"] == 7 and frame["attachments"] == [len(f) for f in files]
    read = []
    for n in frame["attachments"]:
        read.append(rest[:n])
        rest = rest[n:]
    assert read == files
    assert json.loads(rest) == {"id": 8, "result": None, "jsonrpc": "2.0"}
    assert [i["data"] for i in frame["result"]["images"]] == ["", "", ""]  # nothing sent twice
    decoded = decode_frame(line)
    assert isinstance(decoded, Response) and decoded.attachments == [len(f) for f in files]
    result = msgspec.json.decode(decoded.result, type=TaskResult)
    assert [i.data for i in attach_images(result, read).images] == files


def test_a_frame_without_attachments_is_unchanged():
    line = encode_frame(Response(id=1, result={"a": 1}))
    assert b"attachments" not in line
    decoded = decode_frame(line)
    assert isinstance(decoded, Response) and decoded.attachments is msgspec.UNSET


@pytest.mark.parametrize("sizes", [[-1], [1.5], ["3"], [True], 3, {"a": 1}, [ATTACHMENTS_LIMIT, 1]])
def test_unreadable_announcements_are_frame_errors(sizes):
    line = json.dumps({"jsonrpc": "2.0", "id": 4, "result": {}, "attachments": sizes}).encode()
    found = decode_frame(line)
    assert isinstance(found, FrameError) and found.code == INVALID_REQUEST and found.id == 4
    assert "attachments" in found.message


@pytest.mark.parametrize("frame", [
    {"jsonrpc": "2.0", "method": "progress", "params": {}, "attachments": [1]},
    {"jsonrpc": "2.0", "id": 2, "method": "generate", "params": {}, "attachments": [1]},
    {"jsonrpc": "2.0", "id": 2, "error": {"code": 1, "message": "x"}, "attachments": [1]},
])
def test_only_a_response_may_carry_attachments(frame):
    found = decode_frame(json.dumps(frame).encode())
    assert isinstance(found, FrameError) and "only a response" in found.message


@pytest.mark.parametrize("named", [[1], [0, 0]])
def test_an_image_naming_a_missing_or_taken_attachment_is_refused(named):
    result = TaskResult(task_id="t", images=[
        msgspec.structs.replace(image(i, b""), attachment=n) for i, n in enumerate(named)])
    with pytest.raises(ValueError, match="names attachment"):
        attach_images(result, [b"only one"])
