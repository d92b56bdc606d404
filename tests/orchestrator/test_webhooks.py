"""Webhook signing and delivery with retries (transport-level; the loopback test is in tests/integration)."""

import httpx
import pytest

from orchestrator.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookSender, check_url, sign, verify

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


def recorder(statuses: list[int]):
    calls: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(statuses[min(len(calls), len(statuses)) - 1])

    return calls, httpx.MockTransport(handle)


async def test_delivered_and_signed() -> None:
    calls, transport = recorder([204])
    sender = WebhookSender("k", backoff=0, transport=transport)
    assert await sender.send("http://hook.test/a", "job.succeeded", b'{"id":"j"}')
    req = calls[0]
    assert req.headers["X-Remgo-Event"] == "job.succeeded"
    assert verify("k", req.headers[TIMESTAMP_HEADER], req.content, req.headers[SIGNATURE_HEADER])
    await sender.drain(1)


async def test_retries_server_errors_then_gives_up() -> None:
    calls, transport = recorder([500, 503, 200])
    sender = WebhookSender("k", backoff=0, transport=transport)
    assert await sender.send("http://hook.test/a", "job.failed", b"{}")
    assert len(calls) == 3 and len({c.headers["X-Remgo-Delivery"] for c in calls}) == 1
    calls, transport = recorder([500])
    sender = WebhookSender("k", max_attempts=3, backoff=0, transport=transport)
    assert not await sender.send("http://hook.test/a", "job.failed", b"{}")
    assert len(calls) == 3 and sender.failed == 1
    await sender.drain(1)


async def test_client_errors_are_not_retried() -> None:
    calls, transport = recorder([410])
    sender = WebhookSender("k", backoff=0, transport=transport)
    assert not await sender.send("http://hook.test/a", "job.cancelled", b"{}")
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
    assert await sender.send("http://hook.test/a", "job.succeeded", b"{}")
    assert len(attempts) == 2
    await sender.drain(1)
