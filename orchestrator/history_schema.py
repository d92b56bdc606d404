"""The history database's schema, as numbered migrations recorded in `PRAGMA user_version`.

A migration is appended, never edited. Each is one SQL script run inside BEGIN … COMMIT together
with its `user_version` bump, so an interrupted upgrade leaves the database at a known version.
"""

from __future__ import annotations

import sqlite_utils

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

MIGRATIONS: list[str] = [_V1]
LATEST = len(MIGRATIONS)


def schema_version(db: sqlite_utils.Database) -> int:
    return db.execute("PRAGMA user_version").fetchone()[0]


def migrate(db: sqlite_utils.Database) -> int:
    """Bring `db` to the latest schema; returns the version it is at. Refuses a newer database."""
    current = schema_version(db)
    if current > LATEST:
        raise RuntimeError(
            f"history database is at schema version {current}, newer than this remgo knows ({LATEST})"
        )
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
