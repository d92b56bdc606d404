"""Request JSON → expected tasks JSON, one pair of files per case in this folder.

`<case>.request.json` holds the request (`request`, or a RemGo v1 payload under `v1`) and the case's
settings; `<case>.expected.json` holds what normalization must produce, with the catalog folder written
as `$CATALOG`. A case with `twin_of` must also produce the same tasks and images as the named case.
After an intended change, rewrite the expected files with `REMGO_REGEN_GOLDENS=1` and review the diff.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import msgspec
import pytest

from contract.legacy import from_legacy
from contract.request import GenerateRequest
from orchestrator.catalog import Catalog
from orchestrator.normalize import NormalizedJob, normalize
from orchestrator.store.metadata import text as metadata
from tests.orchestrator.catalog.catalog_samples import catalog_dir

HERE = Path(__file__).parent
CASES = sorted(HERE.glob("*.request.json"))
UPDATE = os.environ.get("REMGO_REGEN_GOLDENS") == "1"


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return catalog_dir(tmp_path_factory.mktemp("golden"))


def run_case(spec: dict, root: Path) -> NormalizedJob:
    catalog = Catalog(root)
    # The goldens carry the models' real hashes: wait for hashing (the fake models are small enough to be
    # hashed by the scan itself, so this returns at once); metadata of not-yet-hashed models is tested apart.
    assert catalog.wait_for_hashes(timeout=30)
    if "kernel" in spec:
        catalog.set_kernel_capabilities(spec["kernel"]["samplers"], spec["kernel"]["schedulers"])
    request = from_legacy(spec["v1"]) if "v1" in spec else msgspec.convert(spec["request"], GenerateRequest)
    return normalize(request, catalog, job_id=spec.get("job_id", "job"),
                     default_preset=spec.get("default_preset", "default"),
                     rng=random.Random(spec.get("rng_seed", 0)))


def as_golden(job: NormalizedJob, root: Path) -> dict:
    """Plain JSON with the catalog folder replaced; embedded metadata is checked apart (metadata.py owns it)."""
    data = msgspec.to_builtins(job)
    for task in data["tasks"]:
        task["image_metadata"] = len(task["image_metadata"])
    text = json.dumps(data, ensure_ascii=False).replace(os.path.realpath(root), "$CATALOG")
    return json.loads(text)


def case_name(path: Path) -> str:
    return path.name.removesuffix(".request.json")


@pytest.mark.parametrize("case", CASES, ids=case_name)
def test_golden(case: Path, root: Path):
    spec = json.loads(case.read_text(encoding="utf-8"))
    job = run_case(spec, root)
    got = as_golden(job, root)
    expected_path = HERE / f"{case_name(case)}.expected.json"
    if UPDATE:
        expected_path.write_text(json.dumps(got, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    assert got == json.loads(expected_path.read_text(encoding="utf-8"))
    # Every image carries the text metadata.py renders for it, or nothing when saving metadata is off.
    saved = job.request.save_metadata_to_images
    embedded = [m for task in job.tasks for m in task.image_metadata]
    assert embedded == ([metadata.embedded_text(p, p.metadata_scheme) for p in job.images] if saved else [])
    if "twin_of" in spec:
        twin = json.loads((HERE / f"{spec['twin_of']}.request.json").read_text(encoding="utf-8"))
        other = as_golden(run_case(twin, root), root)
        assert (got["tasks"], got["images"]) == (other["tasks"], other["images"])


def test_the_goldens_cover_the_rules():
    assert len(CASES) >= 15
    about = " ".join(json.loads(c.read_text(encoding="utf-8"))["about"] for c in CASES)
    for rule in ["{prompt}", "Random Style", "wildcard", "inline LoRA", "Quality", "Speed", "Extreme Speed",
                 "Lightning", "Hyper-SD", "preset", "v1"]:
        assert rule in about, rule
