"""The persistent job store (sqlite, WAL) and the job state machine.

queued → running → succeeded | failed | cancelled. A job keeps the request as sent, the normalized
tasks, and one record per image as soon as that image is saved, so a restart loses no finished image:
`resume()` puts jobs that were running back in the queue (attempt + 1) and they run only what is missing.
"""

from __future__ import annotations

import enum
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import msgspec

from contract.request import GenerateRequest
from contract.task import GenerateTask
from orchestrator.common.image_params import ImageParams
from orchestrator.jobs.wal_checkpoints import Checkpointer, no_auto_checkpoints


class JobStatus(enum.StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"


TERMINAL = frozenset({JobStatus.succeeded, JobStatus.failed, JobStatus.cancelled})


# A job still running when the server stopped this many times fails instead of resuming again.
MAX_RESTARTS = 3


class JobError(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    kind: str
    message: str
    field: str | None = None


class ImageRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One job image that is finished: saved (`done`) or dropped by a skip (`skipped`)."""

    index: int
    seed: int
    status: str  # "done" | "skipped"
    relpath: str | None = None
    url: str | None = None
    width: int = 0
    height: int = 0
    format: str | None = None
    history_id: int | str | None = None
    worker: str | None = None
    warnings: list[str] = []  # notes from the worker (TaskResult.warnings)
    kernel_seconds: float = 0.0  # the worker's own time for the task that made it (TaskResult.timings.total)


class Normalized(msgspec.Struct, frozen=True, kw_only=True):
    """What normalization made of the request: tasks to run, per-image parameters, warnings."""

    tasks: list[GenerateTask]
    images: list[ImageParams]
    warnings: list[str] = []
    request: GenerateRequest = GenerateRequest()

    def locate(self, index: int) -> tuple[GenerateTask, int]:
        """The task that makes job image `index`, and the image's position within that task."""
        for task in self.tasks:
            if index < len(task.seeds):
                return task, index
            index -= len(task.seeds)
        raise IndexError("image index beyond the job's tasks")

    def steps_of(self, index: int) -> int:
        return self.locate(index)[0].steps_total()


class Job(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    status: JobStatus
    normalized: Normalized
    request: msgspec.Raw  # the body as sent, JSON
    request_format: str = "v2"  # "v2" | "v1"
    priority: int = 0
    seq: int = 0
    created_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    attempts: int = 0
    workers: list[str] = []
    error: JobError | None = None
    images: list[ImageRecord] = []
    webhook_url: str | None = None

    @property
    def images_total(self) -> int:
        return len(self.normalized.images)

    def finished_indices(self) -> set[int]:
        return {img.index for img in self.images}


_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    priority INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    attempts INTEGER NOT NULL DEFAULT 0,
    workers TEXT NOT NULL DEFAULT '[]',
    error TEXT,
    request TEXT NOT NULL,
    request_format TEXT NOT NULL,
    normalized TEXT NOT NULL,
    images TEXT NOT NULL DEFAULT '[]',
    webhook_url TEXT
);
CREATE INDEX IF NOT EXISTS jobs_queue ON jobs (status, priority DESC, seq);
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    event TEXT NOT NULL,
    body BLOB NOT NULL,
    created_at REAL NOT NULL
);
"""
_COLUMNS = (
    "seq, id, status, priority, created_at, started_at, finished_at, attempts, workers, error, request, "
    "request_format, normalized, images, webhook_url"
)
_enc = msgspec.json.Encoder()
_normalized_dec = msgspec.json.Decoder(Normalized)
_images_dec = msgspec.json.Decoder(list[ImageRecord])
_error_dec = msgspec.json.Decoder(JobError)
_workers_dec = msgspec.json.Decoder(list[str])


class JobStore:
    """All reads and writes of the jobs table. Thread-safe (one connection behind a lock)."""

    def __init__(self, path: str | Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        no_auto_checkpoints(self._db)  # a submit on the event loop never waits for a checkpoint's fsync
        self._db.executescript(_SCHEMA)
        self.checkpointer = Checkpointer(path)

    def close(self) -> None:
        self.checkpointer.close()
        with self._lock:
            self._db.close()

    def _row(self, row: tuple[Any, ...] | None) -> Job | None:
        if row is None:
            return None
        (seq, id_, status, priority, created, started, finished, attempts, workers, error, request, fmt,
         normalized, images, webhook) = row
        return Job(
            id=id_, seq=seq, status=JobStatus(status), priority=priority, created_at=created,
            started_at=started, finished_at=finished, attempts=attempts, workers=_workers_dec.decode(workers),
            error=_error_dec.decode(error) if error else None, request=msgspec.Raw(request.encode()),
            request_format=fmt, normalized=_normalized_dec.decode(normalized),
            images=_images_dec.decode(images), webhook_url=webhook,
        )

    def _one(self, sql: str, args: tuple[Any, ...] = ()) -> Job | None:
        with self._lock:
            return self._row(self._db.execute(f"SELECT {_COLUMNS} FROM jobs {sql}", args).fetchone())

    # ----- creating and reading ---------------------------------------------------------------

    def add(self, job: Job) -> tuple[Job, bool]:
        """Insert a queued job; an existing id returns that job and False (idempotent submit)."""
        now = job.created_at or time.time()
        with self._lock:
            cur = self._db.execute(
                "INSERT OR IGNORE INTO jobs (id, status, priority, created_at, request, request_format, "
                "normalized, webhook_url) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (job.id, JobStatus.queued.value, job.priority, now, bytes(job.request).decode(),
                 job.request_format, _enc.encode(job.normalized).decode(), job.webhook_url),
            )
            created = cur.rowcount == 1
        stored = self.get(job.id)
        assert stored is not None
        return stored, created

    def get(self, job_id: str) -> Job | None:
        return self._one("WHERE id = ?", (job_id,))

    def list(self, *, status: JobStatus | None = None, limit: int = 50, cursor: int | None = None
             ) -> tuple[list[Job], int | None]:
        """Newest first; `cursor` is the `seq` to continue below (the returned next cursor)."""
        where, args = [], []
        if status is not None:
            where.append("status = ?")
            args.append(status.value)
        if cursor is not None:
            where.append("seq < ?")
            args.append(cursor)
        sql = f"SELECT {_COLUMNS} FROM jobs {'WHERE ' + ' AND '.join(where) if where else ''} ORDER BY seq DESC LIMIT ?"
        with self._lock:
            rows = self._db.execute(sql, (*args, limit + 1)).fetchall()
        jobs = [j for j in map(self._row, rows[:limit]) if j is not None]
        return jobs, (jobs[-1].seq if len(rows) > limit else None)

    def next_queued(self) -> Job | None:
        """The job to start next: highest priority, then first come."""
        return self._one("WHERE status = 'queued' ORDER BY priority DESC, seq ASC LIMIT 1")

    def position(self, job: Job) -> int | None:
        """How many queued jobs start before this one (0: next); None when not queued."""
        if job.status is not JobStatus.queued:
            return None
        with self._lock:
            (n,) = self._db.execute(
                "SELECT COUNT(*) FROM jobs WHERE status = 'queued' AND (priority > ? OR (priority = ? AND seq < ?))",
                (job.priority, job.priority, job.seq),
            ).fetchone()
        return n

    def counts(self) -> dict[JobStatus, int]:
        with self._lock:
            rows = self._db.execute("SELECT status, COUNT(*) FROM jobs GROUP BY status").fetchall()
        found = {JobStatus(s): n for s, n in rows}
        return {s: found.get(s, 0) for s in JobStatus}

    def queue_depth(self) -> int:
        with self._lock:
            (n,) = self._db.execute("SELECT COUNT(*) FROM jobs WHERE status = 'queued'").fetchone()
        return n

    # ----- transitions ------------------------------------------------------------------------

    def mark_running(self, job_id: str) -> Job | None:
        """queued → running; the first start counts attempt 1 (a resumed job already counted its own)."""
        with self._lock:
            self._db.execute(
                "UPDATE jobs SET status = 'running', started_at = COALESCE(started_at, ?), "
                "attempts = MAX(attempts, 1) WHERE id = ? AND status = 'queued'",
                (time.time(), job_id),
            )
        return self.get(job_id)

    def add_worker(self, job_id: str, worker: str) -> None:
        job = self.get(job_id)
        if job is not None and worker not in job.workers:
            with self._lock:
                self._db.execute("UPDATE jobs SET workers = ? WHERE id = ?",
                                 (_enc.encode([*job.workers, worker]).decode(), job_id))

    def add_image(self, job_id: str, image: ImageRecord) -> None:
        job = self.get(job_id)
        if job is None:
            return
        images = sorted([i for i in job.images if i.index != image.index] + [image], key=lambda i: i.index)
        with self._lock:
            self._db.execute("UPDATE jobs SET images = ? WHERE id = ?", (_enc.encode(images).decode(), job_id))

    def finish(self, job_id: str, status: JobStatus, error: JobError | None = None) -> Job | None:
        """running/queued → a terminal state; a job already terminal is left as it is."""
        assert status in TERMINAL
        with self._lock:
            self._db.execute(
                "UPDATE jobs SET status = ?, finished_at = ?, error = ? WHERE id = ? "
                "AND status IN ('queued', 'running')",
                (status.value, time.time(), _enc.encode(error).decode() if error else None, job_id),
            )
        return self.get(job_id)

    # ----- webhook deliveries not yet made (survive a restart) --------------------------------------

    def add_delivery(self, delivery_id: str, url: str, event: str, body: bytes) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO webhook_deliveries VALUES (?, ?, ?, ?, ?)",
                             (delivery_id, url, event, body, time.time()))

    def remove_delivery(self, delivery_id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM webhook_deliveries WHERE id = ?", (delivery_id,))

    def pending_deliveries(self) -> list[tuple[str, str, str, bytes]]:
        """(id, url, event, body) of every delivery still to make, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, url, event, body FROM webhook_deliveries ORDER BY created_at").fetchall()
        return [(i, u, e, bytes(b)) for i, u, e, b in rows]

    def resume(self, max_restarts: int = MAX_RESTARTS) -> list[str]:
        """After a restart: jobs left running go back to the queue with attempt + 1. Returns their ids.

        A job that was running through `max_restarts` restarts fails instead: it may be what brings the
        server down, and must not do so forever."""
        error = JobError(kind="interrupted", message=(
            f"failed on {max_restarts} restarts: the server stopped {max_restarts} times while this job was "
            "running (it may be what makes it stop)"))
        with self._lock:
            self._db.execute(
                "UPDATE jobs SET status = 'failed', finished_at = ?, error = ? WHERE status = 'running' "
                "AND attempts >= ?", (time.time(), _enc.encode(error).decode(), max_restarts))
            ids = [r[0] for r in self._db.execute("SELECT id FROM jobs WHERE status = 'running'").fetchall()]
            self._db.execute("UPDATE jobs SET status = 'queued', attempts = attempts + 1 WHERE status = 'running'")
        return ids
