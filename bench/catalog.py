"""Catalog figures: scanning 10,000 model files, loading 1,000 styles, normalizing a request.

Each figure is printed next to a baseline measured the same way on the same data (a bare `os.walk`,
a bare `json.loads`), so the ratio shows what the catalog adds. Run: `python bench/catalog.py`.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from contract.request import GenerateRequest  # noqa: E402
from orchestrator.catalog import Catalog  # noqa: E402
from orchestrator.catalog.models import scan  # noqa: E402
from orchestrator.catalog.styles import load_styles  # noqa: E402
from orchestrator.normalize import normalize  # noqa: E402

MODEL_FILES = 10_000
STYLES = 1_000
REPEATS = 5


def best_of(fn: Callable[[], object], repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def make_models(root: Path) -> None:
    """10,000 small files over the usual kinds, 100 per folder, plus some refused and non-model files."""
    kinds = ["checkpoints", "loras", "vae", "embeddings", "upscale_models", "controlnet"]
    for i in range(MODEL_FILES):
        kind = kinds[i % len(kinds)]
        folder = root / "models" / kind / f"group{i // 100:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        suffix = ".ckpt" if i % 50 == 0 else ".safetensors"
        (folder / f"model_{i:05d}{suffix}").write_bytes(b"x")
        if i % 10 == 0:
            (folder / f"model_{i:05d}.preview.png").write_bytes(b"p")


def raw_walk(root: Path) -> int:
    count = 0
    for _, _, files in os.walk(root):
        count += len(files)
    return count


def make_styles(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    entries = [{"name": f"bench-style-{i}", "prompt": f"{{prompt}}, bench style {i}, detailed, lit",
                "negative_prompt": f"bad, blurry, {i}"} for i in range(STYLES)]
    path = folder / "bench_styles.json"
    path.write_text(json.dumps(entries), encoding="utf-8")
    return path


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="remgo-bench-") as tmp:
        root = Path(tmp) / "catalog"
        make_models(root)
        files = raw_walk(root / "models")
        walk_s = best_of(lambda: raw_walk(root / "models"))
        scan_s = best_of(lambda: scan([root / "models"]))
        result = scan([root / "models"])
        listed = sum(len(v) for v in result.files.values())
        print(f"model scan: {files} files on disk, {listed} listed, {len(result.refused)} refused")
        print(f"  os.walk baseline   {walk_s * 1000:8.1f} ms")
        print(f"  catalog scan       {scan_s * 1000:8.1f} ms   ({scan_s / walk_s:.1f}x the bare walk, "
              f"{scan_s / MODEL_FILES * 1e6:.1f} µs per file)")

        styles_file = make_styles(root / "styles")
        raw = styles_file.read_bytes()
        json_s = best_of(lambda: json.loads(raw))
        load_s = best_of(lambda: load_styles(root / "styles"))
        styles, problems = load_styles(root / "styles")
        assert len(styles) == STYLES and not problems
        print(f"style load: {STYLES} styles")
        print(f"  json.loads baseline {json_s * 1000:7.2f} ms")
        print(f"  catalog load        {load_s * 1000:7.2f} ms   ({load_s / json_s:.1f}x the bare parse)")

        repo_catalog = Path(__file__).resolve().parents[1] / "catalog"
        for sub in ("styles", "presets", "wildcards"):
            (root / sub).mkdir(exist_ok=True)
            for p in (repo_catalog / sub).rglob("*"):
                if p.is_file():
                    target = root / sub / p.relative_to(repo_catalog / sub)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(p.read_bytes())
        catalog_s = best_of(lambda: Catalog(root), repeats=3)
        catalog = Catalog(root)
        name = next(iter(catalog.snapshot().models["checkpoints"]))
        request = GenerateRequest(prompt="a __color__ [[fox,owl]] in snow", base_model_name=name, image_number=8,
                                  style_selections=["Random Style", "Remgo Sharp"], loras=[])
        normalize(request, catalog, job_id="warm", rng=random.Random(0))  # hashes computed once
        runs = [best_of(lambda: normalize(request, catalog, job_id="b", rng=random.Random(0)), repeats=1)
                for _ in range(20)]
        print(f"full catalog build (scan + {len(catalog.snapshot().styles)} styles + presets + wildcards): "
              f"{catalog_s * 1000:.1f} ms")
        print(f"normalize (8 images, wildcards, arrays, Random Style): median {statistics.median(runs) * 1000:.2f} ms, "
              f"{statistics.median(runs) / 8 * 1000:.2f} ms per image")


if __name__ == "__main__":
    main()
