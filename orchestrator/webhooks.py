"""Webhook delivery: on a terminal state the job is POSTed to its URL, signed with HMAC-SHA256.

Headers: `X-Remgo-Signature: sha256=<hex of HMAC(secret, "<timestamp>.<body>")>`, `X-Remgo-Timestamp`,
`X-Remgo-Event` (job.succeeded / job.failed / job.cancelled) and `X-Remgo-Delivery` (unique id).
Signing the timestamp with the body lets a receiver refuse replays. Deliveries run as background tasks
(the dispatcher never waits on them) and are retried with exponential backoff on network errors, 429
and 5xx, up to `max_attempts`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
import uuid
from urllib.parse import urlsplit

import httpx

log = logging.getLogger("remgo.webhooks")

SIGNATURE_HEADER = "X-Remgo-Signature"
TIMESTAMP_HEADER = "X-Remgo-Timestamp"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def check_url(url: str) -> str | None:
    """None when `url` can receive webhooks, else the reason it cannot."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an absolute http:// or https:// URL"
    return None


class WebhookSender:
    def __init__(self, secret: str | None, *, max_attempts: int = 5, backoff: float = 1.0,
                 timeout: float = 10.0, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.secret = secret
        self.max_attempts = max_attempts
        self.backoff = backoff
        self._client = httpx.AsyncClient(timeout=timeout, transport=transport, follow_redirects=False)
        self._tasks: set[asyncio.Task[bool]] = set()
        self.delivered = 0
        self.failed = 0

    @property
    def enabled(self) -> bool:
        return bool(self.secret)

    def send(self, url: str, event: str, body: bytes) -> asyncio.Task[bool]:
        """Start delivering in the background; the task's result says whether it was delivered."""
        task = asyncio.create_task(self._deliver(url, event, body), name=f"webhook {event}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _deliver(self, url: str, event: str, body: bytes) -> bool:
        delivery = uuid.uuid4().hex
        for attempt in range(1, self.max_attempts + 1):
            timestamp = str(int(time.time()))
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "remgo-webhook",
                "X-Remgo-Event": event,
                "X-Remgo-Delivery": delivery,
                TIMESTAMP_HEADER: timestamp,
            }
            if self.secret:
                headers[SIGNATURE_HEADER] = sign(self.secret, timestamp, body)
            try:
                response = await self._client.post(url, content=body, headers=headers)
                if response.status_code < 300:
                    self.delivered += 1
                    return True
                retry = response.status_code == 429 or response.status_code >= 500
                reason = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                retry, reason = True, f"{type(exc).__name__}: {exc}"
            if not retry or attempt == self.max_attempts:
                log.warning("webhook %s to %s not delivered after %d attempt(s): %s", event, url, attempt, reason)
                self.failed += 1
                return False
            await asyncio.sleep(self.backoff * 2 ** (attempt - 1))
        return False

    async def drain(self, timeout: float) -> None:
        """Give pending deliveries `timeout` seconds, then cancel what is left."""
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
            for task in pending:
                task.cancel()
        await self._client.aclose()
