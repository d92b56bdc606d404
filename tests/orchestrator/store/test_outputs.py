"""OutputStore: atomic dated writes, clear errors, and the safe path lookup everything is served through."""

from __future__ import annotations

import errno
import os
import re
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from contract.task import OutputFormat
from orchestrator.store.outputs import OutputError, OutputStore
from tests.orchestrator.store.history_samples import image_bytes

NAME = re.compile(r"^2024-05-06/2024-05-06_07-08-09_job1[0-9a-f]{4}\.(png|jpeg|webp)$")
WHEN = datetime(2024, 5, 6, 7, 8, 9)


@pytest.fixture
def store(tmp_path: Path) -> OutputStore:
    return OutputStore(tmp_path / "outputs")


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
def test_save_writes_dated_file_atomically(store: OutputStore, fmt: str) -> None:
    data = image_bytes(fmt)
    rel = store.save(data, fmt, job_id="job-1", now=WHEN)
    assert NAME.match(rel), rel
    assert rel.endswith("." + fmt)
    assert (store.root / rel).read_bytes() == data
    # Nothing but the image is left in the folder: the temp file was renamed, not copied.
    assert sorted(p.name for p in (store.root / "2024-05-06").iterdir()) == [rel.split("/")[1]]


def test_save_accepts_the_contract_enum(store: OutputStore) -> None:
    rel = store.save(image_bytes("jpeg"), OutputFormat.jpeg, job_id="j", now=WHEN)
    assert rel.endswith(".jpeg")


def test_images_of_one_job_in_one_second_get_distinct_names(store: OutputStore) -> None:
    rels = {store.save(image_bytes("png"), "png", job_id="same", now=WHEN) for _ in range(200)}
    assert len(rels) == 200
    assert all(r.split("_")[-1].startswith("same") for r in rels)


def test_short_id_keeps_only_safe_letters_of_the_job_id(store: OutputStore) -> None:
    rel = store.save(image_bytes("png"), "png", job_id="../Ab/c d-9xyz", now=WHEN)
    assert re.match(r"^2024-05-06/2024-05-06_07-08-09_[0-9a-f]{8}\.png$", store.save(
        image_bytes("png"), "png", job_id="--", now=WHEN))  # nothing usable: all random
    assert re.match(r"^2024-05-06/2024-05-06_07-08-09_abcd[0-9a-f]{4}\.png$", rel), rel


def test_unknown_format_and_mismatched_bytes_are_refused(store: OutputStore) -> None:
    with pytest.raises(OutputError, match="^fmt: unknown output format 'gif'"):
        store.save(image_bytes("png"), "gif", job_id="j")
    with pytest.raises(OutputError, match="^fmt: the data is not a jpeg file"):
        store.save(image_bytes("png"), "jpeg", job_id="j")
    assert not store.root.exists() or not any(store.root.rglob("*.*"))


def test_unwritable_folder_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    store = OutputStore(blocker / "outputs")
    with pytest.raises(OutputError, match="cannot write into|not writable"):
        store.save(image_bytes("png"), "png", job_id="j")


@pytest.mark.parametrize(("code", "reason"), [(errno.ENOSPC, "disk full"), (errno.EROFS, "not writable")])
def test_write_failure_names_the_reason_and_leaves_no_temp_file(
    store: OutputStore, monkeypatch: pytest.MonkeyPatch, code: int, reason: str
) -> None:
    def failing_fsync(fd: int) -> None:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OutputError, match=reason):
        store.save(image_bytes("png"), "png", job_id="j", now=WHEN)
    monkeypatch.undo()
    assert list((store.root / "2024-05-06").iterdir()) == []


def test_resolve_finds_saved_images(store: OutputStore) -> None:
    rel = store.save(image_bytes("webp"), "webp", job_id="j", now=WHEN)
    assert store.resolve(rel) == (store.root / rel).resolve()


def test_resolve_refuses_everything_else(store: OutputStore, tmp_path: Path) -> None:
    rel = store.save(image_bytes("png"), "png", job_id="j", now=WHEN)
    outside = tmp_path / "secret.png"
    outside.write_bytes(image_bytes("png"))
    (store.root / "history.db").write_bytes(b"SQLite format 3\x00")
    (store.root / "history.db-wal").write_bytes(b"")
    (store.root / ".thumbs").mkdir()
    (store.root / ".thumbs" / "a.png").write_bytes(image_bytes("png"))
    (store.root / "2024-05-06" / "link-out.png").symlink_to(outside)
    (store.root / "folder.png").mkdir()
    for bad in [
        "../secret.png",
        "2024-05-06/../../secret.png",
        str(outside),
        "/" + rel,
        "C:/secret.png",
        rel.replace("/", "\\"),
        "./" + rel,
        rel + "\x00",
        "2024-05-06//" + rel.split("/")[1],
        "history.db",
        "history.db-wal",
        ".thumbs/a.png",
        "2024-05-06",
        "2024-05-06/link-out.png",
        "2024-05-06/missing.png",
        "folder.png",
        "",
    ]:
        assert store.resolve(bad) is None, bad


def test_urls_are_quoted(store: OutputStore) -> None:
    assert store.url_for("2024-05-06/a b#c?.png") == "/outputs/2024-05-06/a%20b%23c%3F.png"
    assert store.thumb_url_for("2024-05-06/x.png") == "/thumbs/2024-05-06/x.png"


_SAVER = """
import os, sys, time
from pathlib import Path
from orchestrator.store.outputs import OutputStore
from tests.orchestrator.store.history_samples import image_bytes
os.fsync = lambda fd: time.sleep(3600)  # the save stops after its write, before its rename
OutputStore(Path(sys.argv[1])).save(image_bytes("png"), "png", job_id="job-1")
"""


def _saver_stuck_in_fsync(root: Path) -> tuple[subprocess.Popen, Path]:
    known = set(root.rglob(".*.tmp")) if root.exists() else set()
    proc = subprocess.Popen([sys.executable, "-c", _SAVER, str(root)], cwd=Path(__file__).resolve().parents[3])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        new = set(root.rglob(".*.tmp")) - known if root.exists() else set()
        if new:
            return proc, new.pop()
        assert proc.poll() is None, "the saving process ended early"
        time.sleep(0.02)
    raise AssertionError("no temp file appeared")


def test_temps_of_killed_saves_go_and_those_being_written_stay(store: OutputStore) -> None:
    """A process killed mid-save leaves its hidden temp; the next start removes it. A temp another live
    process is still writing (a second server on the same outputs folder) is left alone."""
    killed, dead_temp = _saver_stuck_in_fsync(store.root)
    killed.kill()
    killed.wait()
    alive, live_temp = _saver_stuck_in_fsync(store.root)
    try:
        for temp in (dead_temp, live_temp):
            os.utime(temp, (time.time() - 60, time.time() - 60))
        day = dead_temp.parent.name
        assert store.drop_dead_temps() == [f"{day}/{dead_temp.name}"]
        assert not dead_temp.exists() and live_temp.exists()
    finally:
        alive.kill()
        alive.wait()
    assert store.drop_dead_temps() == [f"{day}/{live_temp.name}"]
    assert list(store.root.rglob("*.tmp")) == []
