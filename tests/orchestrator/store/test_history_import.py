"""`remgo history import`: a synthetic Fooocus/RemGo outputs folder, in place and copied."""

from __future__ import annotations

import argparse
import json
import sqlite3
from pathlib import Path

import pytest

from orchestrator.cli.history import add_parser
from orchestrator.store.history.importer import HistoryImportError, import_folder, read_remgo_db
from orchestrator.store.history.index import History
from orchestrator.store.history.query import HistoryQuery
from orchestrator.store.history.scan import reconcile
from orchestrator.store.metadata.fooocus import log_fields
from orchestrator.store.outputs import OutputStore
from tests.orchestrator.store.history_samples import sample_params, write_image

FOX = sample_params(prompt="fooocus fox", seed=1)
OWL = sample_params(prompt="a1111 owl", seed=2, base_model="sdxl_base")
BEE = sample_params(prompt="webp bee", seed=3)
CAT = sample_params(prompt="remgo database cat", seed=4, base_model="animagine")


def make_fooocus_folder(root: Path) -> Path:
    """Date folders as Fooocus writes them, a flat file as RemGo writes it, RemGo's metadata.db, clutter."""
    write_image(root / "2024-01-02" / "2024-01-02_10-00-00_1111.png", "png", FOX, "fooocus")
    write_image(root / "2024-01-02" / "2024-01-02_10-00-05_2222.jpeg", "jpeg", OWL, "a1111")
    write_image(root / "2024-01-03" / "2024-01-03_08-00-00_3333.webp", "webp", BEE, "fooocus")
    write_image(root / "2024-01-04_09-00-00_4444.png", "png")  # embeds nothing: metadata.db has it
    (root / "2024-01-03" / "log.html").write_text("<html></html>")
    write_image(root / ".cache" / "hidden.png", "png", FOX)
    conn = sqlite3.connect(root / "metadata.db")
    conn.execute("CREATE TABLE images (id INTEGER PRIMARY KEY AUTOINCREMENT, filename TEXT UNIQUE NOT NULL,"
                 " created_at DATETIME DEFAULT CURRENT_TIMESTAMP, metadata TEXT)")
    conn.execute("INSERT INTO images (filename, created_at, metadata) VALUES (?, ?, ?)",
                 ("2024-01-04_09-00-00_4444.png", "2024-01-04T09:00:00", json.dumps(log_fields(CAT))))
    conn.execute("INSERT INTO images (filename, metadata) VALUES ('broken.png', 'not json')")
    conn.commit()
    conn.close()
    return root


@pytest.fixture
def history(tmp_path: Path):
    hist = History(tmp_path / "outputs" / "history.db", OutputStore(tmp_path / "outputs"))
    yield hist
    hist.close()


def items(history: History) -> dict[str, object]:
    return {i.prompt: i for i in history.page(HistoryQuery(limit=100)).items}


def test_remgo_metadata_db_is_read(tmp_path: Path) -> None:
    texts = read_remgo_db(make_fooocus_folder(tmp_path / "old") / "metadata.db")
    assert list(texts) == ["2024-01-04_09-00-00_4444.png"]
    assert json.loads(texts["2024-01-04_09-00-00_4444.png"])["prompt"] == "remgo database cat"
    assert read_remgo_db(tmp_path / "none.db") == {}


def test_import_in_place_indexes_every_image_without_copying(history: History, tmp_path: Path) -> None:
    old = make_fooocus_folder(tmp_path / "fooocus" / "outputs")
    result = import_folder(history, old)
    assert result | {"root": None} == {"found": 4, "added": 4, "already": 0, "unreadable": 0, "copied": 0,
                                      "metadata_db_rows": 1, "root": None}
    found = items(history)
    assert set(found) == {"fooocus fox", "a1111 owl", "webp bee", "remgo database cat"}
    assert found["a1111 owl"].scheme == "a1111" and found["a1111 owl"].model == "sdxl_base"
    cat = found["remgo database cat"]
    assert (cat.seed, cat.model, cat.path) == (4, "animagine", "2024-01-04_09-00-00_4444.png")
    assert cat.url == f"/v1/history/{cat.id}/file" and cat.source == "imported"
    assert history.file_path(history.row(cat.id)) == (old / cat.path).resolve()
    assert not any(history.outputs.root.glob("20*"))  # nothing copied
    # Newest first across date folders and flat files.
    assert [i.prompt for i in history.page(HistoryQuery(limit=100)).items][0] == "remgo database cat"
    assert import_folder(history, old)["already"] == 4  # importing again adds nothing


def test_import_with_copy_moves_nothing_and_lands_in_date_folders(history: History, tmp_path: Path) -> None:
    old = make_fooocus_folder(tmp_path / "old")
    before = {p: p.read_bytes() for p in old.rglob("*") if p.is_file()}
    result = import_folder(history, old, copy=True)
    assert (result["added"], result["copied"]) == (4, 4)
    paths = sorted(i.path for i in history.page(HistoryQuery()).items)
    assert paths == ["2024-01-02/2024-01-02_10-00-00_1111.png", "2024-01-02/2024-01-02_10-00-05_2222.jpeg",
                     "2024-01-03/2024-01-03_08-00-00_3333.webp", "2024-01-04/2024-01-04_09-00-00_4444.png"]
    for path in paths:
        assert history.outputs.resolve(path) is not None
    assert items(history)["remgo database cat"].url.startswith("/outputs/2024-01-04/")
    assert {p: p.read_bytes() for p in old.rglob("*") if p.is_file()} == before
    again = import_folder(history, old, copy=True)
    assert (again["added"], again["copied"], again["already"]) == (0, 0, 4)


def test_reconcile_drops_rows_of_vanished_imported_files_but_not_of_a_missing_folder(
    history: History, tmp_path: Path
) -> None:
    old = make_fooocus_folder(tmp_path / "old")
    import_folder(history, old)
    (old / "2024-01-02" / "2024-01-02_10-00-00_1111.png").unlink()
    assert reconcile(history)["removed"] == 1
    old.rename(tmp_path / "unplugged")
    assert reconcile(history) == {"added": 0, "removed": 0, "unreadable": 0, "missing_roots": 1}
    assert history.count() == 3


def test_importing_a_folder_inside_outputs_indexes_it_there(history: History) -> None:
    inside = make_fooocus_folder(history.outputs.root / "from-fooocus")
    result = import_folder(history, inside)
    assert (result["added"], result["copied"]) == (4, 0)
    cat = items(history)["remgo database cat"]
    assert cat.path == "from-fooocus/2024-01-04_09-00-00_4444.png" and cat.url.startswith("/outputs/")


def test_import_of_a_non_folder_names_the_path(history: History, tmp_path: Path) -> None:
    with pytest.raises(HistoryImportError, match="^path: .* is not a folder"):
        import_folder(history, tmp_path / "missing")


def _cli(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="remgo")
    add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def test_cli_import_reconcile_and_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = make_fooocus_folder(tmp_path / "old")
    outputs = str(tmp_path / "outputs")
    args = _cli(["history", "import", str(old), "--outputs", outputs])
    assert args.func(args) == 0
    assert json.loads(capsys.readouterr().out)["added"] == 4
    assert (tmp_path / "outputs" / "history.db").exists()
    args = _cli(["history", "reconcile", "--outputs", outputs])
    assert args.func(args) == 0
    assert json.loads(capsys.readouterr().out)["added"] == 0
    args = _cli(["history", "list", "--outputs", outputs, "--q", "owl"])
    assert args.func(args) == 0
    [line] = capsys.readouterr().out.splitlines()
    assert json.loads(line)["prompt"] == "a1111 owl"
    args = _cli(["history", "import", str(tmp_path / "nope"), "--outputs", outputs])
    assert args.func(args) == 2
    assert "path:" in capsys.readouterr().err
