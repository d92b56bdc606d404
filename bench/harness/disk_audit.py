"""What is on disk against what the databases say: the check behind "no lost images, no orphan files".

Read straight from the files (sqlite and the outputs folder), never through the running server, so
it also works after the orchestrator was killed.
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.store.history.index import DB_NAME
from orchestrator.store.history.schema import OUTPUTS_ROOT
from orchestrator.store.outputs import is_image_name

ACTIVE = ("queued", "running")


def image_files(root: Path) -> set[str]:
    """Relative paths of the visible images under `root` (hidden folders such as the thumbnail cache skipped)."""
    found: set[str] = set()
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        rel = Path(folder).relative_to(root)
        found.update((rel / name).as_posix() for name in files if is_image_name(name))
    return found


def temp_files(root: Path) -> list[str]:
    """Half-written files an interrupted save could leave (`.…tmp`)."""
    return sorted(str(Path(f).relative_to(root)) for f in root.rglob(".*.tmp"))


def _query(db: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(db, timeout=10)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def integrity(db: Path) -> str:
    """`ok`, or what `PRAGMA integrity_check` found."""
    return "; ".join(r[0] for r in _query(db, "PRAGMA integrity_check"))


@dataclass
class Audit:
    files: set[str]
    indexed: dict[str, str]  # relpath → source (generated, reconciled …)
    jobs: dict[str, dict]  # id → {status, error, images}
    temps: list[str]
    integrity: dict[str, str]
    problems: list[str] = field(default_factory=list)

    @property
    def job_images(self) -> set[str]:
        return {i["relpath"] for j in self.jobs.values() for i in j["images"] if i.get("relpath")}


def audit(state_dir: Path, outputs_dir: Path, *, allow_active: bool = False) -> Audit:
    """Every rule at once; `problems` lists each one broken (empty: all is well)."""
    history_db, jobs_db = Path(outputs_dir) / DB_NAME, Path(state_dir) / "jobs.db"
    indexed = dict(_query(history_db, f"SELECT path, source FROM images WHERE root = {OUTPUTS_ROOT}"))
    jobs = {
        r[0]: {"status": r[1], "error": json.loads(r[2]) if r[2] else None, "images": json.loads(r[3])}
        for r in _query(jobs_db, "SELECT id, status, error, images FROM jobs")
    }
    result = Audit(files=image_files(Path(outputs_dir)), indexed=indexed, jobs=jobs,
                   temps=temp_files(Path(outputs_dir)),
                   integrity={"history": integrity(history_db), "jobs": integrity(jobs_db)})
    p = result.problems
    for name, verdict in result.integrity.items():
        if verdict != "ok":
            p.append(f"{name} database: {verdict}")
    if unindexed := result.files - indexed.keys():
        p.append(f"{len(unindexed)} file(s) not in the index: {sorted(unindexed)[:5]}")
    if missing := indexed.keys() - result.files:
        p.append(f"{len(missing)} indexed image(s) without a file: {sorted(missing)[:5]}")
    if lost := result.job_images - result.files:
        p.append(f"{len(lost)} image(s) a job recorded are not on disk: {sorted(lost)[:5]}")
    if result.temps:
        p.append(f"temporary files left behind: {result.temps[:5]}")
    for job_id, job in jobs.items():
        if job["status"] in ACTIVE and not allow_active:
            p.append(f"job {job_id} is still {job['status']}")
        if job["status"] == "failed" and not (job["error"] or {}).get("message"):
            p.append(f"job {job_id} failed without a reason")
        if job["status"] == "succeeded" and len({i["index"] for i in job["images"]}) != len(job["images"]):
            p.append(f"job {job_id} recorded an image twice")
    return result
