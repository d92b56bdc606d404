"""A history.db written by an earlier remgo (schema 1: search over prompts only, model filter by exact name)
opens with its full-text index rebuilt over styles and model names, and stays consistent as it changes."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from orchestrator.common.image_params import InputUse, PromptUse
from orchestrator.store.history.index import History
from orchestrator.store.history.query import HistoryQuery
from orchestrator.store.history.schema import LATEST, MIGRATIONS, schema_version
from orchestrator.store.outputs import OutputStore
from tests.orchestrator.store.history_samples import image_bytes, sample_params


def _old_database(path: Path, store: OutputStore) -> dict[str, str]:
    """Schema 1 as earlier versions created it, with rows as they wrote them; {name: image id}."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    conn.executescript(f"BEGIN;\n{MIGRATIONS[0]}\nPRAGMA user_version = 1;\nCOMMIT;")
    rows = {
        "fox": ("a red fox", '["SAI Anime"]', "sdxl/juggernautXL_v8Rundiffusion.safetensors",
                '[{"name": "detail-tweaker.safetensors", "weight": 0.5, "hash": null}]'),
        "owl": ("an owl at night", '["Fooocus Sharp"]', "juggernautXL_v8Rundiffusion", "[]"),  # imported: a stem
        "bridge": ("a stone bridge", "[]", "ponyDiffusion.safetensors", None),
    }
    ids = {}
    for n, (name, (prompt, styles, model, loras)) in enumerate(rows.items()):
        rel = store.save(image_bytes("png"), "png", job_id=name)
        seq = 1_700_000_000_000_000 + n
        conn.execute(
            "INSERT INTO images (seq, id, root, path, created, prompt, negative, styles, model, loras, source) "
            "VALUES (?, ?, 0, ?, ?, ?, '', ?, ?, ?, 'generated')",
            [seq, f"id-{name}", rel, datetime.fromtimestamp(seq / 1e6, UTC).isoformat(), prompt, styles, model,
             loras])
        ids[name] = f"id-{name}"
    conn.commit()
    assert [r[0] for r in conn.execute("SELECT rowid FROM images_fts WHERE images_fts MATCH 'anime'")] == []
    conn.close()
    return ids


def _database_at(version: int, db: Path, store: OutputStore, params) -> None:
    """A database as remgo wrote it at schema `version`, holding one row ('id-old') whose metadata is `params`."""
    db.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(db)
    conn.create_function("remgo_model_key", 1, lambda name: name, deterministic=True)
    steps = "\n".join(MIGRATIONS[:version])
    conn.executescript(f"BEGIN;\n{steps}\nPRAGMA user_version = {version};\nCOMMIT;")
    rel = store.save(image_bytes("png"), "png", job_id="old")
    conn.execute("INSERT INTO images (seq, id, root, path, created, prompt, metadata, source) "
                 "VALUES (1700000000000000, 'id-old', 0, ?, '2023-11-14T22:13:20Z', 'a fox', ?, 'generated')",
                 [rel, msgspec.json.encode(params).decode()])
    conn.commit()
    conn.close()


def _ids(history: History, **params: str) -> list[str]:
    return [item.id for item in history.page(HistoryQuery.from_params(params)).items]


def test_an_old_database_is_migrated_and_its_index_rebuilt(tmp_path: Path) -> None:
    store = OutputStore(tmp_path / "outputs")
    db = tmp_path / "outputs" / "history.db"
    ids = _old_database(db, store)

    history = History(db, store)
    try:
        assert schema_version(history.db) == LATEST == 4
        assert _ids(history, q="anime") == [ids["fox"]]
        assert _ids(history, q="sharp OR anime") == [ids["owl"], ids["fox"]]
        assert _ids(history, q="tweaker") == [ids["fox"]]
        assert _ids(history, q="juggernautXL") == [ids["owl"], ids["fox"]]
        assert _ids(history, q="night") == [ids["owl"]]  # prompts are still there
        assert _ids(history, model="juggernautXL_v8Rundiffusion") == [ids["owl"], ids["fox"]]
        assert _ids(history, model="ponyDiffusion") == [ids["bridge"]]

        # New rows, changed rows and deleted rows keep the rebuilt index consistent.
        rel = store.save(image_bytes("png"), "png", job_id="new")
        new = history.add(relpath=rel, job_id="new", params=sample_params(styles=["SAI Anime"]), width=64,
                          height=48, fmt="png")
        assert _ids(history, q="anime") == [new, ids["fox"]]
        history.db.execute("UPDATE images SET styles = ? WHERE id = ?", [json.dumps(["Fooocus Sharp"]), new])
        assert _ids(history, q="anime") == [ids["fox"]]
        history.delete([ids["fox"]])
        assert _ids(history, q="anime") == []
        history.db.execute("INSERT INTO images_fts(images_fts, rank) VALUES ('integrity-check', 1)")
    finally:
        history.close()

    again = History(db, store)  # a migrated database opens as it is
    try:
        assert _ids(again, q="sharp") == [new, ids["owl"]]
    finally:
        again.close()


def test_schema_3_finds_images_by_the_input_they_were_made_from(tmp_path: Path) -> None:
    """A schema-2 database whose rows carry an input in their metadata is backfilled; new rows are indexed as
    they are added; `input_method` takes a family or a full name, `made_from` a history id or a sha256."""
    store = OutputStore(tmp_path / "outputs")
    db = tmp_path / "outputs" / "history.db"
    varied = sample_params(input=InputUse(method="Vary (Strong)", denoise=0.85, image_sha256="c" * 64,
                                          history_id="0123456789abcdef"))
    _database_at(2, db, store, varied)

    history = History(db, store)
    try:
        upscaled = sample_params(input=InputUse(method="Upscale (2x)", denoise=0.382, image_sha256="d" * 64))
        rel = store.save(image_bytes("png"), "png", job_id="new")
        new = history.add(relpath=rel, job_id="new", params=upscaled, width=64, height=48, fmt="png")
        plain = history.add(relpath=store.save(image_bytes("png"), "png", job_id="t2i"), job_id="t2i",
                            params=sample_params(), width=64, height=48, fmt="png")
        assert _ids(history, input_method="vary") == ["id-old"]
        assert _ids(history, input_method="VARY (strong)") == ["id-old"]
        assert _ids(history, input_method="vary (subtle)") == []
        assert _ids(history, input_method="Upscale") == [new]
        assert _ids(history, made_from="0123456789abcdef") == ["id-old"]
        assert _ids(history, made_from="D" * 64) == [new]
        assert plain in _ids(history) and plain not in _ids(history, input_method="upscale")
    finally:
        history.close()


def test_schema_4_finds_images_by_their_image_prompts(tmp_path: Path) -> None:
    """A schema-3 database whose rows carry image prompts in their metadata is backfilled; new rows are indexed
    as they are added; `image_prompts` says with or without, `image_prompt_type` names one type, any case."""
    store = OutputStore(tmp_path / "outputs")
    db = tmp_path / "outputs" / "history.db"
    prompted = sample_params(image_prompts=[PromptUse(type="PyraCanny", stop=0.5, weight=1.0, image_sha256="e" * 64),
                                            PromptUse(type="ImagePrompt", stop=0.5, weight=0.6, image_sha256="f" * 64)])
    _database_at(3, db, store, prompted)

    history = History(db, store)
    try:
        face = sample_params(image_prompts=[PromptUse(type="FaceSwap", stop=0.9, weight=0.75, image_sha256="a" * 64)])
        new = history.add(relpath=store.save(image_bytes("png"), "png", job_id="new"), job_id="new", params=face,
                          width=64, height=48, fmt="png")
        plain = history.add(relpath=store.save(image_bytes("png"), "png", job_id="t2i"), job_id="t2i",
                            params=sample_params(), width=64, height=48, fmt="png")
        assert _ids(history, image_prompts="true") == [new, "id-old"]
        assert _ids(history, image_prompts="false") == [plain]
        assert _ids(history, image_prompt_type="pyracanny") == ["id-old"]
        assert _ids(history, image_prompt_type="ImagePrompt") == ["id-old"]
        assert _ids(history, image_prompt_type="FaceSwap") == [new]
        assert _ids(history, image_prompt_type="Image") == []  # a whole type name, not a part of one
    finally:
        history.close()
