"""RpcClient against a real worker: concurrent calls matched by id, notifications, errors, a dying pipe."""

import asyncio
import gc
import os

import msgspec
import pytest

from bench.harness.settings import REPO_ROOT, kernel_spec, worker_cmd
from contract.attachments import attach_images
from contract.events import Progress, TaskResult
from contract.rpc import (
    METHOD_NOT_FOUND,
    UNKNOWN_TASK,
    Framing,
    FramingParams,
    Health,
    Response,
    StopMode,
    StopParams,
    encode_frame,
)
from contract.task import GenerateTask, ModelRef
from orchestrator.common.foreground import Foreground
from orchestrator.pool import rpc_client
from orchestrator.pool.rpc_client import RpcCallError, RpcClient, WorkerGone
from orchestrator.pool.transport import READ_AHEAD

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend():
    return "asyncio"


async def spawn(step_delay: float = 0.0):
    env = {**os.environ, "REMGO_TEST_STEP_DELAY": str(step_delay), "PYTHONPATH": str(REPO_ROOT)}
    proc = await asyncio.create_subprocess_exec(
        *worker_cmd(), "--kernel", kernel_spec(), "--threads", "1", stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, env=env, limit=1 << 26)
    notes: list[Progress] = []

    def on_note(method, params):
        if method == "progress":
            notes.append(msgspec.json.decode(params, type=Progress))

    client = RpcClient(proc.stdout, proc.stdin, on_notification=on_note, name="t")
    client.start()
    while msgspec.json.decode(await client.call("health", timeout=10), type=Health).kernel_state != "ready":
        await asyncio.sleep(0.05)
    return proc, client, notes


class SilentWriter:
    """A worker's stdin that takes every request and answers nothing: the test feeds the answers."""

    def write(self, data: bytes) -> None:
        pass

    async def drain(self) -> None:
        pass

    def close(self) -> None:
        pass


def task(task_id: str, steps: int = 4, seeds=(1,)) -> GenerateTask:
    return GenerateTask(task_id=task_id, base_model=ModelRef(name="m", path="/m.safetensors"), width=64,
                        height=64, seeds=list(seeds), steps=steps)


async def test_calls_overlap_and_match_by_id() -> None:
    proc, client, notes = await spawn(step_delay=0.05)
    try:
        gen = asyncio.create_task(client.call("generate", task("t1", steps=20, seeds=(1, 2))))
        while not notes:
            await asyncio.sleep(0.01)
        # progress and stop are answered while generate is still in flight on the same pipe
        snapshot = msgspec.json.decode(await client.call("progress", {"task_id": "t1"}, timeout=5), type=Progress)
        assert snapshot.task_id == "t1"
        assert client.in_flight == 1 and not gen.done()
        await client.call("stop", StopParams(task_id="t1", mode=StopMode.stop), timeout=5)
        result = msgspec.json.decode(await asyncio.wait_for(gen, 10), type=TaskResult)
        assert result.stopped and result.task_id == "t1"
        assert all(n.task_id == "t1" for n in notes)
        assert max(n.step for n in notes) < 20
    finally:
        proc.kill()
        await proc.wait()


async def test_errors_carry_code_and_failure() -> None:
    proc, client, _ = await spawn()
    try:
        with pytest.raises(RpcCallError) as err:
            await client.call("no_such_method", timeout=5)
        assert err.value.code == METHOD_NOT_FOUND and err.value.failure.field == "method"
        with pytest.raises(RpcCallError) as err:
            await client.call("stop", {"task_id": "ghost"}, timeout=5)
        assert err.value.code == UNKNOWN_TASK
        raw = await client.call("generate", task("ok", steps=2), timeout=10)
        assert len(msgspec.json.decode(raw, type=TaskResult).images) == 1
    finally:
        proc.kill()
        await proc.wait()


async def test_a_dead_worker_fails_pending_calls() -> None:
    proc, client, notes = await spawn(step_delay=0.2)
    gen = asyncio.create_task(client.call("generate", task("t", steps=50)))
    while not notes:
        await asyncio.sleep(0.01)
    proc.kill()
    with pytest.raises(WorkerGone):
        await asyncio.wait_for(gen, 10)
    await proc.wait()
    with pytest.raises(WorkerGone):
        await client.call("health")
    await client.close()


async def test_a_worker_gone_while_a_request_is_written_leaves_no_lost_failure() -> None:
    """The output closes while the request is still being written: the call raises WorkerGone once, and the
    failure set on its waiting future meanwhile is not left for asyncio to report as never retrieved."""
    reader = asyncio.StreamReader()
    lost: list[dict] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, context: lost.append(context))

    class Writer:  # a pipe whose other end goes away during the write
        def write(self, data: bytes) -> None:
            reader.feed_eof()

        async def drain(self) -> None:
            await asyncio.sleep(0.05)  # the reader sees the end and fails every pending call meanwhile
            raise ConnectionResetError("the worker is gone")

        def close(self) -> None:
            pass

    client = RpcClient(reader, Writer(), on_notification=lambda method, params: None, name="w0")
    client.start()
    with pytest.raises(WorkerGone):
        await client.call("health")
    await client.close()
    gc.collect()  # an unretrieved exception is reported when its future is collected
    await asyncio.sleep(0)
    assert [c for c in lost if "never retrieved" in str(c.get("message"))] == []


async def test_attachments_arrive_with_their_answer() -> None:
    """With attachments on, the bytes after a `generate` answer reach that call alone, and the frames that
    follow them (progress, other answers) are read as frames again."""
    proc, client, notes = await spawn(step_delay=0.02)
    try:
        plain = msgspec.json.decode(await client.call("generate", task("b64", steps=8, seeds=(3, 4)), timeout=10),
                                    type=TaskResult)
        framing = await client.call("framing", FramingParams(attachments=True), timeout=5)
        assert msgspec.json.decode(framing, type=Framing).attachments is True
        gen = asyncio.create_task(client.call_with_attachments("generate", task("raw", steps=8, seeds=(3, 4))))
        while not [n for n in notes if n.task_id == "raw"]:
            await asyncio.sleep(0.01)
        assert msgspec.json.decode(await client.call("health", timeout=5), type=Health).busy
        raw, files = await asyncio.wait_for(gen, 20)
        result = attach_images(msgspec.json.decode(raw, type=TaskResult), files)
        assert [i.data for i in result.images] == [i.data for i in plain.images] == files
        assert [(i.seed, i.attachment) for i in result.images] == [(3, None), (4, None)]
        assert (await client.call_with_attachments("health", timeout=5)).attachments == []
        assert client.last_problem is None
    finally:
        proc.kill()
        await proc.wait()


async def test_attachments_wait_for_the_request_being_answered(monkeypatch) -> None:
    """A frame announcing attachments is read up to its newline; its bytes wait while a request is in flight
    (bounded by ATTACHMENT_YIELD_MAX_S, here longer than the test), then the answer arrives whole."""
    monkeypatch.setattr(rpc_client, "ATTACHMENT_YIELD_MAX_S", 30)
    reader = asyncio.StreamReader()

    foreground = Foreground(grace=0.01)
    client = RpcClient(reader, SilentWriter(), on_notification=lambda method, params: None, name="w0",
                       foreground=foreground)
    client.start()
    foreground.begin()
    call = asyncio.create_task(client.call_with_attachments("generate", {}))
    await asyncio.sleep(0)
    reader.feed_data(encode_frame(Response(id=1, result={"task_id": "t"}, attachments=[3, 2])) + b"abcde")
    await asyncio.sleep(0.3)
    assert not call.done() and len(reader._buffer) == 5  # the bytes are still where they came in
    foreground.end()
    reply = await asyncio.wait_for(call, 10)
    assert reply.attachments == [b"abc", b"de"] and msgspec.json.decode(reply.result) == {"task_id": "t"}
    await client.close()


async def test_a_frame_longer_than_the_read_ahead_arrives_whole() -> None:
    """A worker that sends images as base64 writes lines of megabytes; the reader takes them READ_AHEAD at a
    time and hands the frame over whole, then reads on."""
    reader = asyncio.StreamReader(limit=READ_AHEAD)

    client = RpcClient(reader, SilentWriter(), on_notification=lambda method, params: None, name="w0")
    client.start()
    first = asyncio.create_task(client.call("generate", {}))
    second = asyncio.create_task(client.call("health"))
    await asyncio.sleep(0)
    big = "x" * (3 * READ_AHEAD + 17)
    stream = encode_frame(Response(id=1, result={"data": big})) + encode_frame(Response(id=2, result=7))
    for start in range(0, len(stream), 65536):  # as a pipe delivers it
        reader.feed_data(stream[start:start + 65536])
        await asyncio.sleep(0)
    assert msgspec.json.decode(await asyncio.wait_for(first, 10)) == {"data": big}
    assert msgspec.json.decode(await asyncio.wait_for(second, 10)) == 7
    assert client.last_problem is None
    await client.close()
