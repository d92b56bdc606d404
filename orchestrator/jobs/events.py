"""In-process pub/sub of job events: per-job fan-out to bounded subscriber queues.

Each event is encoded to JSON once at publish time and the same bytes reach every subscriber. A slow
subscriber never slows the publisher. When its queue is full, room is made from the oldest `progress`
event first: progress is a snapshot that a newer one (or the job's end) supersedes, so nothing is lost.
Only a queue full of other events drops its oldest one; that loss is counted in `lost` and the
streams tell their client (a `dropped` event), so a client never misses an event without knowing.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import time
from collections.abc import Callable, Iterable

import msgspec

from orchestrator.jobs.model import JobEvent

_enc = msgspec.json.Encoder()
SUPERSEDED = frozenset({"progress"})  # event types a later event of the same job makes stale


class Delivered(msgspec.Struct, frozen=True):
    event: JobEvent
    json: bytes


class Subscription:
    """A bounded queue of events for some job ids (or every job when `all_jobs`)."""

    def __init__(self, hub: EventHub, job_ids: Iterable[str], all_jobs: bool, maxsize: int) -> None:
        self._hub = hub
        self.stamp = hub.stamp
        self.job_ids: set[str] = set(job_ids)
        self.all_jobs = all_jobs
        self.maxsize = maxsize
        self._items: collections.deque[Delivered] = collections.deque()
        self._ready = asyncio.Event()
        self.dropped = 0  # events taken out of a full queue, progress snapshots included
        self.lost = 0  # of those, events that were not progress: the client is told
        self.closed = False

    def deliver(self, item: Delivered) -> None:
        if len(self._items) >= self.maxsize:
            self._make_room()
        self._items.append(item)
        self._ready.set()

    def _make_room(self) -> None:
        self.dropped += 1
        for i, old in enumerate(self._items):
            if old.event.type in SUPERSEDED:
                del self._items[i]
                return
        self._items.popleft()
        self.lost += 1
        self._hub.lost += 1

    def pending(self) -> int:
        return len(self._items)

    async def get(self, timeout: float | None = None) -> Delivered | None:
        """The next event, or None after `timeout` seconds without one."""
        if not self._items:
            self._ready.clear()
            try:
                await asyncio.wait_for(self._ready.wait(), timeout)
            except TimeoutError:
                return None
        return self._items.popleft() if self._items else None

    def add(self, job_id: str) -> None:
        self._hub._index(self, job_id)

    def remove(self, job_id: str) -> None:
        self._hub._unindex(self, job_id)

    def watch_all(self, on: bool) -> None:
        """Receive every job's events (True) or only the subscribed ids' (False)."""
        self.all_jobs = on
        if on:
            self._hub._all.add(self)
        else:
            self._hub._all.discard(self)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._hub._drop(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EventHub:
    def __init__(self, queue_size: int = 256) -> None:
        self.queue_size = queue_size
        self._by_job: dict[str, set[Subscription]] = {}
        self._all: set[Subscription] = set()
        self._listeners: list[Callable[[JobEvent], None]] = []
        self._seq = itertools.count(1)
        self.published = 0
        self.lost = 0  # events (not progress) dropped from full subscriber queues, over all subscribers

    def subscribe(self, job_ids: Iterable[str] = (), *, all_jobs: bool = False) -> Subscription:
        sub = Subscription(self, (), all_jobs, self.queue_size)
        if all_jobs:
            self._all.add(sub)
        for job_id in job_ids:
            self._index(sub, job_id)
        return sub

    def listen(self, callback: Callable[[JobEvent], None]) -> None:
        """A synchronous callback for every event (metrics); it must not block."""
        self._listeners.append(callback)

    def stamp(self, event: JobEvent) -> JobEvent:
        """The event with the next sequence number and the time now. Events a stream makes for one client
        (a job's state when it opens, a `dropped` notice) are stamped too, so every event has both."""
        return msgspec.structs.replace(event, id=next(self._seq), time=time.time())

    def publish(self, event: JobEvent) -> JobEvent:
        """Stamp the event with its sequence number and time and hand it to its subscribers."""
        event = self.stamp(event)
        item = Delivered(event, _enc.encode(event))
        self.published += 1
        for sub in self._by_job.get(event.job_id, ()):
            sub.deliver(item)
        for sub in self._all:
            if event.job_id not in sub.job_ids:
                sub.deliver(item)
        for callback in self._listeners:
            callback(event)
        return event

    @property
    def subscriber_count(self) -> int:
        return len(self._all | {s for subs in self._by_job.values() for s in subs})

    def _index(self, sub: Subscription, job_id: str) -> None:
        sub.job_ids.add(job_id)
        self._by_job.setdefault(job_id, set()).add(sub)

    def _unindex(self, sub: Subscription, job_id: str) -> None:
        sub.job_ids.discard(job_id)
        subs = self._by_job.get(job_id)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._by_job[job_id]

    def _drop(self, sub: Subscription) -> None:
        self._all.discard(sub)
        for job_id in list(sub.job_ids):
            self._unindex(sub, job_id)
