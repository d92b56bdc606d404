"""Webhook signing and delivery with retries (transport-level; the loopback test is in tests/integration)."""

import asyncio

import httpx
import pytest

from orchestrator.jobs.store import JobStore
from orchestrator.jobs.webhooks import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookSender,
    check_url,
    sign,
    url_problem,
    verify,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend():
    return "asyncio"


def test_signature_round_trip() -> None:
    sig = sign("s3cret", "1700000000", b'{"id":"j"}')
    assert sig.startswith("sha256=") and len(sig) == 7 + 64
    assert verify("s3cret", "1700000000", b'{"id":"j"}', sig)
    assert not verify("other", "1700000000", b'{"id":"j"}', sig)
    assert not verify("s3cret", "1700000001", b'{"id":"j"}', sig)
    assert not verify("s3cret", "1700000000", b'{"id":"k"}', sig)


def test_check_url() -> None:
    assert check_url("http://127.0.0.1:9/hook") is None
    assert check_url("https://example.org/x") is None
    assert "http" in check_url("ftp://example.org/x")
    assert check_url("/relative") is not None


PUBLIC = "http://93.184.216.34/a"  # a global address: no name to resolve, nothing private


def recorder(statuses: list[int]):
    calls: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(statuses[min(len(calls), len(statuses)) - 1])

    return calls, httpx.MockTransport(handle)


async def test_delivered_and_signed() -> None:
    calls, transport = recorder([204])
    sender = WebhookSender("k", backoff=0, transport=transport)
    assert await sender.send(PUBLIC, "job.succeeded", b'{"id":"j"}')
    req = calls[0]
    assert req.headers["X-Remgo-Event"] == "job.succeeded"
    assert verify("k", req.headers[TIMESTAMP_HEADER], req.content, req.headers[SIGNATURE_HEADER])
    await sender.drain(1)


async def test_retries_server_errors_then_gives_up() -> None:
    calls, transport = recorder([500, 503, 200])
    sender = WebhookSender("k", backoff=0, transport=transport)
    assert await sender.send(PUBLIC, "job.failed", b"{}")
    assert len(calls) == 3 and len({c.headers["X-Remgo-Delivery"] for c in calls}) == 1
    calls, transport = recorder([500])
    sender = WebhookSender("k", max_attempts=3, backoff=0, transport=transport)
    assert not await sender.send(PUBLIC, "job.failed", b"{}")
    assert len(calls) == 3 and sender.failed == 1
    await sender.drain(1)


async def test_client_errors_are_not_retried() -> None:
    calls, transport = recorder([410])
    sender = WebhookSender("k", backoff=0, transport=transport)
    assert not await sender.send(PUBLIC, "job.cancelled", b"{}")
    assert len(calls) == 1
    await sender.drain(1)


async def test_network_errors_are_retried() -> None:
    attempts = []

    def handle(request: httpx.Request) -> httpx.Response:
        attempts.append(1)
        if len(attempts) < 2:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200)

    sender = WebhookSender("k", backoff=0, transport=httpx.MockTransport(handle))
    assert await sender.send(PUBLIC, "job.succeeded", b"{}")
    assert len(attempts) == 2
    await sender.drain(1)


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/h", "http://localhost/h", "http://10.1.2.3/h",
                                 "http://192.168.0.10/h", "http://172.16.5.5/h", "http://169.254.169.254/latest",
                                 "http://[::1]/h", "http://[fd00::1]/h", "http://[::ffff:127.0.0.1]/h",
                                 "http://0.0.0.0/h"])
async def test_private_targets_are_refused_unless_allowed(url) -> None:
    problem = await url_problem(url, allow_private=False)
    assert problem is not None and "webhook_allow_private" in problem, problem
    assert await url_problem(url, allow_private=True) is None
    assert await url_problem(PUBLIC, allow_private=False) is None


async def test_a_delivery_to_a_private_address_is_never_made() -> None:
    calls, transport = recorder([204])
    sender = WebhookSender("k", backoff=0, transport=transport)
    assert not await sender.send("http://127.0.0.1:9/h", "job.succeeded", b"{}")
    assert calls == [] and sender.failed == 1
    await sender.drain(1)


async def test_a_pending_delivery_survives_a_restart(tmp_path) -> None:
    store = JobStore(tmp_path / "jobs.db")

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("receiver down", request=request)

    first = WebhookSender("k", backoff=60, transport=httpx.MockTransport(refuse), log_store=store)
    first.send(PUBLIC, "job.succeeded", b'{"id":"j"}')
    await asyncio.sleep(0)  # the first attempt fails, then it waits 60 s to retry: the server stops now
    await first.drain(0.2)
    assert [(url, event, body) for _, url, event, body in store.pending_deliveries()] == [
        (PUBLIC, "job.succeeded", b'{"id":"j"}')]
    store.close()

    store = JobStore(tmp_path / "jobs.db")  # the next start
    calls, transport = recorder([204])
    second = WebhookSender("k", backoff=0, transport=transport, log_store=store)
    assert second.resume() == 1
    await second.drain(5)
    assert [c.content for c in calls] == [b'{"id":"j"}'] and store.pending_deliveries() == []
    store.close()
