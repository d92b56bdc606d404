"""Reconcile: a crash between writing a file and indexing it is healed; no file is ever deleted."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.store.history.index import History
from orchestrator.store.history.query import HistoryQuery
from orchestrator.store.history.scan import reconcile
from orchestrator.store.metadata.text import embedded_text
from orchestrator.store.outputs import OutputStore
from tests.orchestrator.store.history_samples import image_bytes, sample_params, write_image


@pytest.fixture
def history(tmp_path: Path):
    hist = History(tmp_path / "outputs" / "history.db", OutputStore(tmp_path / "outputs"))
    yield hist
    hist.close()


def files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("scheme", ["fooocus", "a1111"])
@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
def test_file_saved_but_not_indexed_is_indexed_from_its_metadata(history: History, fmt: str, scheme: str) -> None:
    params = sample_params(prompt=f"crash test {fmt} {scheme}", seed=777)
    rel = history.outputs.save(image_bytes(fmt, embedded_text(params, scheme)), fmt, job_id="lost")
    # ... the process died here, before History.add.
    assert reconcile(history) == {"added": 1, "removed": 0, "unreadable": 0, "missing_roots": 0}
    [item] = history.page(HistoryQuery()).items
    assert (item.path, item.prompt, item.seed, item.format, item.source) == (rel, params.prompt, 777, fmt, "reconciled")
    assert item.model == params.base_model and item.scheme == scheme
    assert item.params is not None and item.raw_metadata is None
    assert reconcile(history)["added"] == 0  # idempotent


def test_created_comes_from_the_file_name(history: History) -> None:
    write_image(history.outputs.root / "2023-07-08" / "2023-07-08_09-10-11_1234.png", "png", sample_params())
    reconcile(history)
    [item] = history.page(HistoryQuery()).items
    assert item.created.startswith("2023-07-0")  # local time of the name, stored as UTC


def test_rows_without_files_are_removed_and_files_never_deleted(history: History) -> None:
    keep_rel = history.outputs.save(image_bytes("png"), "png", job_id="a")
    gone_rel = history.outputs.save(image_bytes("png"), "png", job_id="b")
    for rel in (keep_rel, gone_rel):
        history.add(relpath=rel, job_id="x", params=sample_params(), width=64, height=48, fmt="png")
    (history.outputs.root / gone_rel).unlink()
    broken = history.outputs.root / "2020-01-01" / "broken.png"
    broken.parent.mkdir()
    broken.write_bytes(b"not really a png")
    stray = history.outputs.root / "notes.txt"
    stray.write_text("keep me")
    before = files(history.outputs.root)
    result = reconcile(history)
    assert result == {"added": 0, "removed": 1, "unreadable": 1, "missing_roots": 0}
    assert [i.path for i in history.page(HistoryQuery()).items] == [keep_rel]
    assert files(history.outputs.root) == before


def test_file_without_metadata_is_still_indexed(history: History) -> None:
    rel = history.outputs.save(image_bytes("jpeg"), "jpeg", job_id="j")
    assert reconcile(history)["added"] == 1
    [item] = history.page(HistoryQuery()).items
    assert item.path == rel and item.prompt is None and item.params is None and item.width == 64


def test_unparseable_metadata_is_kept_raw(history: History) -> None:
    rel = history.outputs.save(image_bytes("png", {"parameters": "just some words"}), "png", job_id="j")
    reconcile(history)
    [item] = history.page(HistoryQuery()).items
    assert item.path == rel and item.raw_metadata == "just some words" and item.params is None


def test_a_missing_outputs_folder_keeps_its_rows(tmp_path: Path) -> None:
    root = tmp_path / "outputs"
    hist = History(tmp_path / "history.db", OutputStore(root))
    rel = hist.outputs.save(image_bytes("png"), "png", job_id="j")
    hist.add(relpath=rel, job_id="j", params=sample_params(), width=64, height=48, fmt="png")
    root.rename(tmp_path / "unmounted")
    assert reconcile(hist) == {"added": 0, "removed": 0, "unreadable": 0, "missing_roots": 1}
    assert hist.count() == 1
    hist.close()


def test_hidden_temp_files_and_thumbnails_are_not_indexed(history: History) -> None:
    rel = history.outputs.save(image_bytes("png"), "png", job_id="j")
    history.outputs.thumbnail(rel)
    (history.outputs.root / rel).with_name(".half-written.png.tmp").write_bytes(b"")
    (history.outputs.root / rel).with_name(".hidden.png").write_bytes(image_bytes("png"))
    assert reconcile(history)["added"] == 1
    assert history.count() == 1
