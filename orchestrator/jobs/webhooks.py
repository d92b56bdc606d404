"""Webhook delivery: on a terminal state the job is POSTed to its URL, signed with HMAC-SHA256.

Headers: `X-Remgo-Signature: sha256=<hex of HMAC(secret, "<timestamp>.<body>")>`, `X-Remgo-Timestamp`,
`X-Remgo-Event` (job.succeeded / job.failed / job.cancelled) and `X-Remgo-Delivery` (unique id).
Signing the timestamp with the body lets a receiver refuse replays. Deliveries run as background tasks
(the dispatcher never waits on them) and are retried with exponential backoff on network errors, 429
and 5xx, up to `max_attempts`.

A delivery is written to the job store before it is first tried and removed once it is delivered or
given up, so deliveries a restart interrupted are made when the server starts again (`resume`).

Targets on this machine or its private networks (loopback, link-local, RFC 1918, unique-local …) are
refused unless `webhook_allow_private` is set: otherwise anyone who can submit a job could make the
server POST to services only it can reach (SSRF). The name is resolved again before every attempt, so a
name that later resolves to a private address (DNS rebinding) is refused then too.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import logging
import socket
import time
import uuid
from typing import Protocol
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
    """None when `url` has the form of a webhook target, else the reason it has not."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an absolute http:// or https:// URL"
    return None


def _private(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


async def url_problem(url: str, allow_private: bool) -> str | None:
    """Why the server must not POST to `url`: its form, a name that does not resolve, or an address on
    this machine or a private network (unless `allow_private`)."""
    problem = check_url(url)
    if problem or allow_private:
        return problem
    host = urlsplit(url).hostname or ""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError as exc:
        return f"the host {host!r} does not resolve ({exc.strerror or exc})"
    private = sorted({info[4][0] for info in infos if _private(info[4][0])})
    if private:
        return (f"the host {host!r} is {private[0]}, on this machine or a private network; set "
                "webhook_allow_private to send webhooks there")
    return None


class DeliveryLog(Protocol):
    """Where deliveries not yet made are kept across restarts (the job store)."""

    def add_delivery(self, delivery_id: str, url: str, event: str, body: bytes) -> None: ...

    def remove_delivery(self, delivery_id: str) -> None: ...

    def pending_deliveries(self) -> list[tuple[str, str, str, bytes]]: ...


class WebhookSender:
    def __init__(self, secret: str | None, *, max_attempts: int = 5, backoff: float = 1.0,
                 timeout: float = 10.0, transport: httpx.AsyncBaseTransport | None = None,
                 allow_private: bool = False, log_store: DeliveryLog | None = None) -> None:
        self.secret = secret
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.allow_private = allow_private
        self.log_store = log_store
        self._client = httpx.AsyncClient(timeout=timeout, transport=transport, follow_redirects=False)
        self._tasks: set[asyncio.Task[bool]] = set()
        self.delivered = 0
        self.failed = 0

    @property
    def enabled(self) -> bool:
        return bool(self.secret)

    def send(self, url: str, event: str, body: bytes) -> asyncio.Task[bool]:
        """Record the delivery, then make it in the background; the task's result says whether it was
        delivered."""
        delivery = uuid.uuid4().hex
        if self.log_store is not None:
            self.log_store.add_delivery(delivery, url, event, body)
        return self._start(delivery, url, event, body)

    def resume(self) -> int:
        """Start again every delivery a previous run left unmade; returns how many."""
        pending = self.log_store.pending_deliveries() if self.log_store is not None else []
        for delivery, url, event, body in pending:
            log.info("resuming webhook %s to %s", event, url)
            self._start(delivery, url, event, body)
        return len(pending)

    def _start(self, delivery: str, url: str, event: str, body: bytes) -> asyncio.Task[bool]:
        task = asyncio.create_task(self._deliver(delivery, url, event, body), name=f"webhook {event}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _deliver(self, delivery: str, url: str, event: str, body: bytes) -> bool:
        delivered = await self._attempts(delivery, url, event, body)
        if self.log_store is not None:  # delivered or given up: either way it is not pending any more
            self.log_store.remove_delivery(delivery)
        return delivered

    async def _attempts(self, delivery: str, url: str, event: str, body: bytes) -> bool:
        for attempt in range(1, self.max_attempts + 1):
            problem = await url_problem(url, self.allow_private)
            if problem is not None:
                log.warning("webhook %s to %s refused: %s", event, url, problem)
                self.failed += 1
                return False
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
        """Give pending deliveries `timeout` seconds, then cancel what is left (it stays recorded, and is
        made on the next start)."""
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
            for task in pending:
                task.cancel()
        await self._client.aclose()
