"""The outputs folder full or read-only: the job fails with a clear reason, no file is left without its
index row, and both databases pass `PRAGMA integrity_check`.

A real small tmpfs is mounted over outputs/ (root with mount rights, as on the CI machine); elsewhere
these tests are skipped, and the unit test at the end covers the index-failure path on any machine.
"""

import errno
import os
import subprocess
from pathlib import Path

import pytest

from bench.harness.disk_audit import audit
from bench.harness.in_process import poll, running
from bench.harness.settings import SMALL, server_settings

pytestmark = pytest.mark.anyio


def _mount(*args: str) -> bool:
    return subprocess.run(["mount", *args], capture_output=True, check=False).returncode == 0


@pytest.fixture
def small_disk(tmp_path):
    """outputs/ on its own 4 MiB tmpfs, unmounted afterwards whatever happens."""
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    if os.geteuid() != 0 or not _mount("-t", "tmpfs", "-o", "size=4m", "tmpfs", str(outputs)):
        pytest.skip("needs root with the right to mount a tmpfs")
    try:
        yield outputs
    finally:
        subprocess.run(["umount", "-l", str(outputs)], check=False)


def _fill(folder: Path) -> Path:
    """Write a hidden file until the disk is full."""
    filler = folder / ".filler"
    with open(filler, "wb") as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


async def test_outputs_full_then_read_only_then_fine(tmp_path, small_disk) -> None:
    settings = server_settings(tmp_path, preview_enabled=False)
    async with running(settings) as srv:
        c = srv.client
        await c.post("/v1/jobs?id=before", json=SMALL)
        day = small_disk / (await poll(c, "before", "succeeded"))["images"][0]["url"].split("/")[2]
        filler = _fill(small_disk)
        await c.post("/v1/jobs?id=full", json={**SMALL, "image_number": 2})
        job = await poll(c, "full", "failed")
        assert job["error"]["kind"] == "output" and "disk full" in job["error"]["message"], job["error"]
        filler.unlink()
        # The day's folder made read-only (a read-only bind mount over itself: root ignores file modes).
        assert _mount("--bind", str(day), str(day)) and _mount("-o", "remount,bind,ro", str(day))
        try:
            await c.post("/v1/jobs?id=readonly", json=SMALL)
            job = await poll(c, "readonly", "failed")
            assert job["error"]["kind"] == "output" and "not writable" in job["error"]["message"], job["error"]
        finally:
            subprocess.run(["umount", str(day)], check=True)
        await c.post("/v1/jobs?id=after", json={**SMALL, "image_number": 2})
        assert len((await poll(c, "after", "succeeded"))["images"]) == 2
        assert (await c.get("/health")).status_code == 200
    found = audit(Path(settings.state_dir), small_disk)
    assert found.problems == [] and found.integrity == {"history": "ok", "jobs": "ok"}
    assert len(found.files) == 3


async def test_an_image_that_cannot_be_indexed_is_not_left_on_disk(tmp_path) -> None:
    """Saved, then the index write fails (as it does on a full disk): the file goes, the job says why."""
    settings = server_settings(tmp_path, preview_enabled=False)
    async with running(settings) as srv:
        history = srv.services.history

        def refuse(**kwargs):
            raise OSError(errno.ENOSPC, "database or disk is full")

        history.add, original = refuse, history.add
        try:
            await srv.client.post("/v1/jobs?id=unindexed", json=SMALL)
            job = await poll(srv.client, "unindexed", "failed")
        finally:
            history.add = original
        assert job["error"]["kind"] == "output"
        assert job["error"]["message"] == "image 0 could not be indexed: [Errno 28] database or disk is full"
        await srv.client.post("/v1/jobs?id=later", json=SMALL)
        await poll(srv.client, "later", "succeeded")
    found = audit(Path(settings.state_dir), Path(settings.outputs_dir))
    assert found.problems == [] and len(found.files) == 1
