"""The history database's schema, as numbered migrations recorded in `PRAGMA user_version`.

A migration is appended, never edited. Each is one SQL script run inside BEGIN … COMMIT together
with its `user_version` bump, so an interrupted upgrade leaves the database at a known version.
"""

from __future__ import annotations

import sqlite_utils

from orchestrator.store.metadata.fooocus import stem

# `images.root` 0 is the outputs folder; other roots are folders indexed in place by `history import`.
OUTPUTS_ROOT = 0

_V1 = """
CREATE TABLE roots (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    added TEXT NOT NULL
);
CREATE TABLE images (
    -- The sort key: when the image was made, in microseconds since the Unix epoch (UTC), made unique by
    -- moving a clash on by 1 µs. Newest first is `seq DESC`, which the table itself and every index
    -- (ending implicitly in seq) and the full-text index (keyed by seq) deliver without sorting.
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,       -- the public image id
    root INTEGER NOT NULL DEFAULT 0,
    path TEXT NOT NULL,            -- relative to its root, '/' separators
    job_id TEXT,
    created TEXT NOT NULL,         -- seq as UTC ISO 8601 text
    width INTEGER,
    height INTEGER,
    format TEXT,
    size INTEGER,
    prompt TEXT,
    negative TEXT,
    styles TEXT,                   -- JSON list
    model TEXT,
    model_hash TEXT,
    refiner TEXT,
    loras TEXT,                    -- JSON list of {name, weight, hash}
    sampler TEXT,
    scheduler TEXT,
    steps INTEGER,
    guidance REAL,
    seed INTEGER,
    performance TEXT,
    scheme TEXT,
    metadata TEXT,                 -- JSON of the ImageParams, when known
    raw_metadata TEXT,             -- embedded text that could not be read as ImageParams
    source TEXT NOT NULL,          -- generated | reconciled | imported
    starred INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX images_root_path ON images(root, path);
CREATE INDEX images_model ON images(model);
CREATE INDEX images_starred ON images(starred);
CREATE VIRTUAL TABLE images_fts USING fts5(
    prompt, negative, content='images', content_rowid='seq',
    tokenize='unicode61 remove_diacritics 2'
);
CREATE TRIGGER images_ai AFTER INSERT ON images BEGIN
    INSERT INTO images_fts(rowid, prompt, negative) VALUES (new.seq, new.prompt, new.negative);
END;
CREATE TRIGGER images_ad AFTER DELETE ON images BEGIN
    INSERT INTO images_fts(images_fts, rowid, prompt, negative)
        VALUES ('delete', old.seq, old.prompt, old.negative);
END;
-- Only a change of the prompts touches the full-text index (starring does not).
CREATE TRIGGER images_au AFTER UPDATE OF prompt, negative ON images BEGIN
    INSERT INTO images_fts(images_fts, rowid, prompt, negative)
        VALUES ('delete', old.seq, old.prompt, old.negative);
    INSERT INTO images_fts(rowid, prompt, negative) VALUES (new.seq, new.prompt, new.negative);
END;
"""

# The full-text index covers prompts, styles and model names (base, refiner, LoRAs). Its text is read through
# the view `images_text`, so the index, its triggers and a rebuild agree on one expression. The model filter
# compares `model_key`: the model's file stem, case-folded, so the name the metadata shows finds it too.
_V2 = """
DROP TRIGGER images_ai;
DROP TRIGGER images_ad;
DROP TRIGGER images_au;
DROP TABLE images_fts;
DROP INDEX images_model;
ALTER TABLE images ADD COLUMN lora_names TEXT;  -- the LoRAs' names, one per line
ALTER TABLE images ADD COLUMN model_key TEXT;
UPDATE images SET
    lora_names = CASE WHEN json_valid(loras) THEN
        (SELECT group_concat(json_extract(value, '$.name'), char(10)) FROM json_each(images.loras)) END,
    model_key = remgo_model_key(model);
CREATE INDEX images_model_key ON images(model_key);
CREATE VIEW images_text AS SELECT seq, prompt, negative, styles,
    trim(coalesce(model, '') || char(10) || coalesce(refiner, '') || char(10) || coalesce(lora_names, ''))
        AS models
    FROM images;
CREATE VIRTUAL TABLE images_fts USING fts5(
    prompt, negative, styles, models, content='images_text', content_rowid='seq',
    tokenize='unicode61 remove_diacritics 2'
);
INSERT INTO images_fts(images_fts) VALUES ('rebuild');
CREATE TRIGGER images_ai AFTER INSERT ON images BEGIN
    INSERT INTO images_fts(rowid, prompt, negative, styles, models)
        SELECT seq, prompt, negative, styles, models FROM images_text WHERE seq = new.seq;
END;
-- BEFORE: the row is still there to read the indexed text from.
CREATE TRIGGER images_bd BEFORE DELETE ON images BEGIN
    INSERT INTO images_fts(images_fts, rowid, prompt, negative, styles, models)
        SELECT 'delete', seq, prompt, negative, styles, models FROM images_text WHERE seq = old.seq;
END;
-- Only a change of the indexed text touches the full-text index (starring does not).
CREATE TRIGGER images_bu BEFORE UPDATE OF prompt, negative, styles, model, refiner, lora_names ON images BEGIN
    INSERT INTO images_fts(images_fts, rowid, prompt, negative, styles, models)
        SELECT 'delete', seq, prompt, negative, styles, models FROM images_text WHERE seq = old.seq;
END;
CREATE TRIGGER images_au AFTER UPDATE OF prompt, negative, styles, model, refiner, lora_names ON images BEGIN
    INSERT INTO images_fts(rowid, prompt, negative, styles, models)
        SELECT seq, prompt, negative, styles, models FROM images_text WHERE seq = new.seq;
END;
"""

# The input image an image was made from (Vary, Upscale, Inpaint, Outpaint), for the history's filters.
_V3 = """
ALTER TABLE images ADD COLUMN input_method TEXT;    -- e.g. 'Vary (Subtle)', 'Outpaint'; NULL: text to image
ALTER TABLE images ADD COLUMN input_hash TEXT;      -- sha256 of the input image file
ALTER TABLE images ADD COLUMN input_history_id TEXT; -- the history image it was taken from, if any
UPDATE images SET
    input_method = json_extract(metadata, '$.input.method'),
    input_hash = json_extract(metadata, '$.input.image_sha256'),
    input_history_id = json_extract(metadata, '$.input.history_id')
    WHERE json_valid(metadata) AND json_extract(metadata, '$.input') IS NOT NULL;
CREATE INDEX images_input_hash ON images(input_hash) WHERE input_hash IS NOT NULL;
CREATE INDEX images_input_history_id ON images(input_history_id) WHERE input_history_id IS NOT NULL;
"""

# The image prompts an image was made with, for the history's filters: their types, one per line.
_V4 = """
ALTER TABLE images ADD COLUMN image_prompt_types TEXT; -- e.g. 'ImagePrompt' || char(10) || 'CPDS'; NULL: none
UPDATE images SET image_prompt_types =
    (SELECT group_concat(json_extract(value, '$.type'), char(10)) FROM json_each(images.metadata, '$.image_prompts'))
    WHERE json_valid(metadata) AND json_array_length(metadata, '$.image_prompts') > 0;
CREATE INDEX images_image_prompt_types ON images(image_prompt_types) WHERE image_prompt_types IS NOT NULL;
"""

MIGRATIONS: list[str] = [_V1, _V2, _V3, _V4]
LATEST = len(MIGRATIONS)
FTS_COLUMNS = ("prompt", "negative", "styles", "models")


def model_key(name: str | None) -> str | None:
    """What the model filter compares: `sdxl/juggernautXL_v8.safetensors` and `juggernautXL_v8` (the name
    Fooocus and A1111 metadata show) are the same model."""
    return stem(name).casefold() if name else None


def schema_version(db: sqlite_utils.Database) -> int:
    return db.execute("PRAGMA user_version").fetchone()[0]


def migrate(db: sqlite_utils.Database) -> int:
    """Bring `db` to the latest schema; returns the version it is at. Refuses a newer database."""
    current = schema_version(db)
    if current > LATEST:
        raise RuntimeError(
            f"history database is at schema version {current}, newer than this remgo knows ({LATEST})"
        )
    db.conn.create_function("remgo_model_key", 1, model_key, deterministic=True)  # for the migrations' SQL
    for version in range(current + 1, LATEST + 1):
        try:
            db.conn.executescript(
                f"BEGIN;\n{MIGRATIONS[version - 1]}\nPRAGMA user_version = {version};\nCOMMIT;"
            )
        except Exception:
            if db.conn.in_transaction:
                db.conn.execute("ROLLBACK")
            raise
    return LATEST
