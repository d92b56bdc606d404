"""WAL checkpoints leave the writing thread: the job store's commits never copy the WAL into the database
(sqlite would, with an fsync, in whichever commit crosses 1000 pages); a `Checkpointer` thread does."""

import sqlite3
import time

from orchestrator.jobs.store import JobStore
from orchestrator.jobs.wal_checkpoints import WAL_SIZE_LIMIT, Checkpointer, no_auto_checkpoints
from tests.orchestrator.jobs.job_samples import make_job

ROW = "x" * 3000  # about one page a row


def wal_bytes(db) -> int:
    wal = db.with_name(db.name + "-wal")
    return wal.stat().st_size if wal.exists() else 0


def writer(db) -> sqlite3.Connection:
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE IF NOT EXISTS t (body TEXT)")
    return conn


def test_sqlite_checkpoints_in_the_commit_unless_told_not_to(tmp_path) -> None:
    plain, quiet = writer(tmp_path / "plain.db"), writer(tmp_path / "quiet.db")
    no_auto_checkpoints(quiet)
    for _ in range(1500):
        plain.execute("INSERT INTO t VALUES (?)", (ROW,))
        quiet.execute("INSERT INTO t VALUES (?)", (ROW,))
    page = 4096 + 24
    assert wal_bytes(tmp_path / "plain.db") < 1100 * page  # a commit went back to the WAL's start
    assert wal_bytes(tmp_path / "quiet.db") > 1400 * page  # no commit did


def test_the_checkpointer_copies_the_wal_and_it_starts_over(tmp_path) -> None:
    db = tmp_path / "q.db"
    conn = writer(db)
    no_auto_checkpoints(conn)
    checkpointer = Checkpointer(db, pages=200, interval_s=0.02)
    try:
        for _ in range(3000):
            conn.execute("INSERT INTO t VALUES (?)", (ROW,))
        deadline = time.monotonic() + 30
        while checkpointer.passes == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert checkpointer.passes >= 1
    finally:
        checkpointer.close()  # a last pass copies the rest
    conn.execute("INSERT INTO t VALUES (?)", (ROW,))  # everything was copied: the WAL starts over, cut back
    assert wal_bytes(db) <= WAL_SIZE_LIMIT < 3000 * 4096
    conn.close()
    (n,) = sqlite3.connect(db).execute("SELECT COUNT(*) FROM t").fetchone()
    assert n == 3001


def test_the_job_store_never_checkpoints_in_a_submit(tmp_path) -> None:
    store = JobStore(tmp_path / "jobs.db")
    try:
        (pages,) = store._db.execute("PRAGMA wal_autocheckpoint").fetchone()
        assert pages == 0
        store.add(make_job("a"))
        assert store.checkpointer._thread.is_alive()
    finally:
        store.close()
    assert not store.checkpointer._thread.is_alive()
    again = JobStore(tmp_path / "jobs.db")
    try:
        assert again.get("a") is not None
    finally:
        again.close()
