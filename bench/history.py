"""History paging: the sqlite index against RemGo's per-request folder scan, on the same files.

Builds N synthetic images (empty files named like Fooocus outputs; default 100,000) in date folders,
indexes them in remgo's history (one row per image, full ImageParams JSON), and times the median of:
  first page · a deep page (90% down) · a filtered page (one model) · a full-text search
through History.page (what GET /v1/history runs). Beside it, RemGo's method on the same files: list
the folders, sort by the time in the name, slice, then read the page's metadata from a metadata.db
(in-process sqlite, which flatters it; RemGo shelled out to the `sqlite3` program, timed too where
installed). RemGo had no filters or search: the method has to read every image's metadata for those.
Also times RemGo's own flat layout (every file in one folder). Target: ≤ 10 ms per remgo query.

    python bench/history.py [--rows 100000] [--repeat 30]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from orchestrator.common.image_params import ImageParams, LoraUse
from orchestrator.store.history.index import History  # noqa: E402
from orchestrator.store.history.query import HistoryQuery, encode_cursor, micros  # noqa: E402
from orchestrator.store.history.rows import params_columns  # noqa: E402
from orchestrator.store.history.scan import reconcile
from orchestrator.store.metadata.fooocus import log_fields  # noqa: E402
from orchestrator.store.outputs import OutputStore  # noqa: E402

PER_DAY = 1000
LIMIT = 50
MODELS = [f"model_{i}" for i in range(10)]
WORDS = ("fox owl harbour lantern forest misty neon portrait castle desert ocean robot garden "
         "winter bridge city dragon meadow sunset temple river cabin galaxy street market").split()
RARE = "zeppelin"  # in about 0.1% of prompts
START = datetime(2023, 1, 1, 8, 0, 0)


def synthetic(n: int, rng: random.Random) -> tuple[str, str, ImageParams]:
    """(date folder, file name, params) of image n; one image every 30 s, PER_DAY a day."""
    when = START + timedelta(days=n // PER_DAY, seconds=30 * (n % PER_DAY))
    words = rng.sample(WORDS, 6) + ([RARE] if rng.random() < 0.001 else [])
    params = ImageParams(
        prompt=" ".join(words), negative_prompt="blurry, lowres", styles=["Fooocus V2", "Fooocus Enhance"],
        performance="Speed", steps=30, width=1152, height=896, guidance_scale=4.0, sharpness=2.0,
        adm_guidance=(1.5, 0.8, 0.3), base_model=MODELS[n % len(MODELS)], base_model_hash="aeb7e9e689",
        sampler="dpmpp_2m_sde_gpu", scheduler="karras", seed=rng.randrange(2**63), clip_skip=2,
        adaptive_cfg=7.0, refiner_switch=0.5, loras=[LoraUse(name="sdxl_offset", weight=0.1)],
        full_prompt=[" ".join(words)], full_negative_prompt=["blurry, lowres"],
    )
    return when.strftime("%Y-%m-%d"), f"{when:%Y-%m-%d_%H-%M-%S}_{n % 10000:04d}.png", params


def build(root: Path, rows: int) -> tuple[History, Path, Path, dict[str, float]]:
    rng = random.Random(7)
    outputs, flat = root / "outputs", root / "flat"
    flat.mkdir(parents=True)
    remgo_db = sqlite3.connect(root / "metadata.db")
    remgo_db.execute("CREATE TABLE images (id INTEGER PRIMARY KEY AUTOINCREMENT, filename TEXT UNIQUE NOT NULL,"
                     " created_at DATETIME DEFAULT CURRENT_TIMESTAMP, metadata TEXT)")
    history = History(root / "history.db", OutputStore(outputs))
    figures: dict[str, float] = {}
    t_files = t_index = 0.0
    pending, remgo_rows = [], []
    for n in range(rows):
        day, name, params = synthetic(n, rng)
        t = time.perf_counter()
        folder = outputs / day
        if n % PER_DAY == 0:
            folder.mkdir(parents=True, exist_ok=True)
        for target in (folder / name, flat / name):
            os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o644))
        t_files += time.perf_counter() - t
        when = datetime.strptime(name[:19], "%Y-%m-%d_%H-%M-%S")
        pending.append({"id": f"{n:016x}", "root": 0, "path": f"{day}/{name}", "job_id": f"job{n // 4}",
                        "seq": micros(when), "width": 1152, "height": 896, "format": "png", "size": 0,
                        "source": "generated", "starred": int(rng.random() < 0.05), **params_columns(params)})
        remgo_rows.append((name, when.isoformat(), json.dumps(log_fields(params))))
        if len(pending) == 5000 or n == rows - 1:
            t = time.perf_counter()
            history.insert_rows(pending, batch=5000)
            t_index += time.perf_counter() - t
            remgo_db.executemany("INSERT INTO images (filename, created_at, metadata) VALUES (?, ?, ?)", remgo_rows)
            pending, remgo_rows = [], []
    remgo_db.commit()
    remgo_db.close()
    figures["files"], figures["index"] = t_files, t_index
    return history, outputs, flat, figures


# ---- RemGo's method: scan, sort by the name's timestamp, slice, read the page's metadata --------------


def _created(name: str) -> float:
    try:
        return datetime.strptime(name[:19], "%Y-%m-%d_%H-%M-%S").timestamp()
    except ValueError:
        return 0.0


def remgo_scan(outputs: Path, want: int) -> list[tuple[float, str]]:
    """As RemGo's loader: every flat file, plus date folders newest first until `want` are found."""
    found = [(_created(e.name), e.name) for e in os.scandir(outputs) if e.is_file() and e.name.endswith(".png")]
    dated = sorted((e.name for e in os.scandir(outputs) if e.is_dir() and len(e.name) == 10), reverse=True)
    taken = 0
    for day in dated:
        if taken >= want:
            break
        names = sorted((e.name for e in os.scandir(outputs / day) if e.is_file()), reverse=True)
        found += [(_created(n), n) for n in names]
        taken += len(names)
    found.sort(reverse=True)
    return found


def remgo_metadata(db: Path, names: list[str], cli: bool) -> dict[str, dict]:
    if cli:
        quoted = ", ".join("'" + n.replace("'", "''") + "'" for n in names)
        out = subprocess.run(["sqlite3", str(db), "-json",
                              f"SELECT filename, metadata FROM images WHERE filename IN ({quoted});"],
                             capture_output=True, text=True, check=True).stdout
        rows = [(r["filename"], r["metadata"]) for r in json.loads(out or "[]")]
    else:
        conn = sqlite3.connect(db)
        marks = ",".join("?" for _ in names)
        rows = conn.execute(f"SELECT filename, metadata FROM images WHERE filename IN ({marks})", names).fetchall()
        conn.close()
    return {name: json.loads(meta) for name, meta in rows}


def remgo_page(outputs: Path, db: Path, offset: int, *, cli: bool = False) -> list:
    files = remgo_scan(outputs, offset + LIMIT)[offset: offset + LIMIT]
    meta = remgo_metadata(db, [n for _, n in files], cli)
    return [(n, meta.get(n)) for _, n in files]


def remgo_filtered(outputs: Path, db: Path, keep) -> list:
    files = remgo_scan(outputs, 10**9)
    meta = {}
    names = [n for _, n in files]
    for i in range(0, len(names), 900):  # sqlite's bound-parameter limit
        meta.update(remgo_metadata(db, names[i: i + 900], cli=False))
    return [(n, meta.get(n)) for n in names if keep(meta.get(n) or {})][:LIMIT]


# ---- timing ----------------------------------------------------------------------------------------


def median_ms(fn, repeat: int) -> float:
    fn()  # warm the caches the way a running server has them
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="remgo-bench-history-"))
    try:
        run(root, args.rows, args.repeat)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run(root: Path, rows: int, repeat: int) -> None:
    print(f"building {rows:,} images (empty files, twice: date folders and flat) …", flush=True)
    history, outputs, flat, built = build(root, rows)
    db = root / "metadata.db"
    print(f"  files made in {built['files']:.1f} s; remgo index built in {built['index']:.1f} s "
          f"({rows / built['index']:,.0f} rows/s); index size {os.path.getsize(root / 'history.db') / 2**20:.0f} MiB")
    deep_at = int(rows * 0.9)
    deep = history.db.execute("SELECT seq FROM images ORDER BY seq DESC LIMIT 1 OFFSET ?", [deep_at - 1])
    cursor = encode_cursor(deep.fetchone()[0])
    queries = {
        "first page": ({}, lambda o: remgo_page(o, db, 0)),
        "deep page (90%)": ({"cursor": cursor}, lambda o: remgo_page(o, db, deep_at)),
        "filtered (model)": ({"model": "model_3"},
                             lambda o: remgo_filtered(o, db, lambda m: m.get("base_model") == "model_3")),
        f"full-text '{WORDS[0]} {WORDS[1]}'": ({"q": f"{WORDS[0]} {WORDS[1]}"}, lambda o: remgo_filtered(
            o, db, lambda m: all(w in m.get("prompt", "") for w in WORDS[:2]))),
        f"full-text rare '{RARE}'": ({"q": RARE}, lambda o: remgo_filtered(
            o, db, lambda m: RARE in m.get("prompt", ""))),
    }
    slow_repeat = max(3, repeat // 10)
    print(f"\nmedian latency, {LIMIT} items a page ({repeat} runs remgo, {slow_repeat} runs RemGo method)")
    head = f"{'query':<28}{'remgo':>10}{'RemGo dated':>14}{'RemGo flat':>13}{'ratio':>10}   ≤10 ms"
    print(head + "\n" + "-" * len(head))
    for label, (params, remgo_fn) in queries.items():
        query = HistoryQuery.from_params({"limit": str(LIMIT), **params})
        assert len(history.page(query).items) > 0, label
        ours = median_ms(lambda q=query: history.page(q), repeat)
        dated = median_ms(lambda f=remgo_fn: f(outputs), slow_repeat)
        flat_ms = median_ms(lambda f=remgo_fn: f(flat), slow_repeat)
        print(f"{label:<28}{ours:>8.2f}ms{dated:>12.1f}ms{flat_ms:>11.1f}ms{dated / ours:>9.0f}x   "
              f"{'yes' if ours <= 10 else 'NO'}")
    t = time.perf_counter()
    result = reconcile(history)
    print(f"\nreconcile of {rows:,} indexed files (nothing to do: {result}): {time.perf_counter() - t:.2f} s")
    if shutil.which("sqlite3"):
        cli = median_ms(lambda: remgo_page(flat, db, 0, cli=True), slow_repeat)
        print(f"RemGo as shipped (flat folder + `sqlite3` program per request), first page: {cli:.1f} ms")
    print("ratio = RemGo method on date folders / remgo; flat is RemGo's own layout.")
    history.close()


if __name__ == "__main__":
    main()
