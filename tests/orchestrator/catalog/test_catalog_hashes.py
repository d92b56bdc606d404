"""Model hashes in the background: a job never waits for one, each file is hashed once, progress is shown.

The hash function is replaced by one that counts its calls and holds the first checkpoint until the test
lets it go, so "while a big file is being hashed" is a state the test controls, not a matter of timing.
"""

from __future__ import annotations

import collections
import hashlib
import json
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import msgspec
import pytest

from contract.request import GenerateRequest
from orchestrator.catalog import Catalog, ModelKind
from orchestrator.catalog import hashes as hashes_module
from orchestrator.catalog.hashes import HashCache
from orchestrator.common.foreground import Foreground
from orchestrator.normalize import normalize
from orchestrator.store.metadata import text as metadata
from tests.orchestrator.catalog.catalog_samples import STANDARD_MODELS, catalog_dir

BIG = "juggernautXL_v8Rundiffusion.safetensors"  # the default preset's checkpoint, hashed first
LORA = "sd_xl_offset_example-lora_1.0.safetensors"  # the default preset's LoRA
MODEL_FILES = sum(len(names) for names in STANDARD_MODELS.values())
WAIT = 30  # seconds: only a bound on waits for a condition, never a measurement


class HeldHash:
    """sha256_of that counts calls per path and holds the `held` file until `release()`."""

    def __init__(self, held: str) -> None:
        self.held = held
        self.calls: collections.Counter[str] = collections.Counter()
        self.started = threading.Event()
        self.go = threading.Event()
        self._real = hashes_module.sha256_of
        self._lock = threading.Lock()

    def __call__(self, path: str, after_piece=None) -> str:
        with self._lock:
            self.calls[path] += 1
        if Path(path).name == self.held:
            self.started.set()
            assert self.go.wait(WAIT), "the test never released the held file"
        return self._real(path, after_piece)

    def release(self) -> None:
        self.go.set()


@pytest.fixture
def held(monkeypatch):
    fake = HeldHash(BIG)
    monkeypatch.setattr(hashes_module, "sha256_of", fake)
    yield fake
    fake.release()  # never leave a hasher thread stuck past the test


@pytest.fixture
def root(tmp_path) -> Path:
    return catalog_dir(tmp_path)


def background_catalog(root: Path) -> Catalog:
    """Every file left to the background hasher, however small."""
    return Catalog(root, inline_hash_bytes=0)


def soon(fn, *args, **kwargs):
    """fn(...) on another thread; its result, failing (rather than hanging) if it blocks."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(fn, *args, **kwargs).result(timeout=WAIT)


def job(catalog: Catalog, **fields):
    request = msgspec.convert({"prompt": "x", "image_seed": 1, **fields}, GenerateRequest)
    return normalize(request, catalog, job_id="job", rng=random.Random(0))


def real_hash(model) -> str:
    return hashlib.sha256(Path(model.path).read_bytes()).hexdigest()[:10]


def test_a_job_is_normalized_while_its_checkpoint_is_being_hashed(root, held):
    catalog = background_catalog(root)
    assert held.started.wait(WAIT)
    progress = catalog.summary()["hashing"]
    big_size = catalog.model(ModelKind.checkpoints, BIG).size
    assert progress == {"done": 0, "total": MODEL_FILES, "current": BIG, "current_bytes": 0,
                        "current_size": big_size}

    during = soon(job, catalog)  # the hasher is held inside the checkpoint: a waiting job would never return
    image = during.images[0]
    assert image.base_model == BIG and image.base_model_hash is None
    assert [lo.hash for lo in image.loras] == [None]
    fooocus = json.loads(during.tasks[0].image_metadata[0]["parameters"])
    assert fooocus["base_model_hash"] == "unknown" and fooocus["loras"][0][2] == "unknown"
    assert metadata.parse(json.dumps(fooocus)).base_model_hash is None
    a1111 = soon(job, catalog, metadata_scheme="a1111").tasks[0].image_metadata[0]["parameters"]
    assert "Model hash" not in a1111 and "Lora hashes" not in a1111
    assert catalog.hashing_progress()["current"] == BIG  # still held: the jobs did not finish it

    held.release()
    assert catalog.wait_for_hashes(timeout=WAIT)
    assert catalog.summary()["hashing"] == {"done": MODEL_FILES, "total": MODEL_FILES, "current": None,
                                            "current_bytes": 0, "current_size": 0}
    after = job(catalog).images[0]
    base = catalog.model(ModelKind.checkpoints, BIG)
    lora = catalog.model(ModelKind.loras, LORA)
    assert after.base_model_hash == real_hash(base) and after.loras[0].hash == real_hash(lora)
    text = metadata.embedded_text(after, "fooocus")["parameters"]
    assert json.loads(text)["base_model_hash"] == real_hash(base)
    assert metadata.parse(text).base_model_hash == real_hash(base)
    catalog.close()


def test_rescans_and_blocking_lookups_meanwhile_hash_each_file_once(root, held):
    catalog = background_catalog(root)
    assert held.started.wait(WAIT)
    big = catalog.model(ModelKind.checkpoints, BIG)
    with ThreadPoolExecutor(max_workers=4) as pool:
        lookups = [pool.submit(catalog.short_hash, big) for _ in range(2)]  # wait for the one hashing
        soon(catalog.rescan)  # returns while the checkpoint is still being hashed
        soon(catalog.rescan)
        other = soon(background_catalog, root)  # a second catalog of the folder shares the cache
        assert catalog.hashing_progress() == {"done": 0, "total": MODEL_FILES, "current": BIG,
                                              "current_bytes": 0, "current_size": big.size}
        held.release()
        assert [f.result(timeout=WAIT) for f in lookups] == [real_hash(big)] * 2
    assert catalog.wait_for_hashes(timeout=WAIT) and other.wait_for_hashes(timeout=WAIT)
    assert len(held.calls) == MODEL_FILES and set(held.calls.values()) == {1}
    assert catalog.hashing_progress()["done"] == MODEL_FILES
    catalog.rescan()  # every file is known now: nothing is read again
    assert catalog.wait_for_hashes(timeout=WAIT) and set(held.calls.values()) == {1}
    catalog.close()
    other.close()


def test_hashes_survive_a_restart_and_follow_changes(root, held):
    held.release()
    catalog = background_catalog(root)
    assert catalog.wait_for_hashes(timeout=WAIT)
    big = catalog.model(ModelKind.checkpoints, BIG)
    before = real_hash(big)
    # A new process: its own cache object, reading the file the pass wrote when it finished.
    assert HashCache(root / "models" / ".hash_cache.json").known(big.path, big.size, big.mtime_ns) == before

    Path(big.path).write_bytes(b"other weights, other size")
    assert catalog.known_hash(big) == before  # the snapshot's file as it was scanned
    catalog.rescan()
    assert catalog.wait_for_hashes(timeout=WAIT)
    changed = catalog.model(ModelKind.checkpoints, BIG)
    assert catalog.known_hash(changed) == real_hash(changed) != before
    assert held.calls[big.path] == 2
    catalog.close()


def test_close_stops_hashing_after_the_current_file(root, held):
    catalog = background_catalog(root)
    assert held.started.wait(WAIT)
    catalog.close()
    held.release()
    assert catalog.wait_for_hashes(timeout=WAIT)
    assert list(held.calls) == [catalog.model(ModelKind.checkpoints, BIG).path]
    assert catalog.known_hash(catalog.model(ModelKind.loras, LORA)) is None
    assert catalog.hashing_progress()["current"] is None


def test_small_files_are_hashed_by_the_scan_itself(root):
    catalog = Catalog(root)  # the fake models are a few bytes: no thread, every hash known at once
    assert catalog.wait_for_hashes(timeout=0)
    assert catalog.summary()["hashing"] == {"done": MODEL_FILES, "total": MODEL_FILES, "current": None,
                                            "current_bytes": 0, "current_size": 0}
    base = catalog.model(ModelKind.checkpoints, BIG)
    assert catalog.known_hash(base) == real_hash(base)


def test_the_background_hasher_gives_way_to_requests_being_answered(tmp_path, monkeypatch):
    """While a request is in flight the hasher reads one piece per YIELD_MAX_S, and goes on at full speed
    once requests stop; the hash it ends with is the file's sha256 all the same."""
    monkeypatch.setattr(hashes_module, "_CHUNK", 1024)
    monkeypatch.setattr(hashes_module, "YIELD_MAX_S", 0.2)
    root = catalog_dir(tmp_path)
    big = Path(root / "models" / "checkpoints" / BIG)
    big.write_bytes(random.Random(1).randbytes(64 * 1024))  # 64 pieces
    foreground = Foreground()
    foreground.begin()  # a request is being answered, and stays so until end()
    catalog = Catalog(root, inline_hash_bytes=0, foreground=foreground)
    model = catalog.model(ModelKind.checkpoints, BIG)
    deadline = time.monotonic() + WAIT
    while catalog.hashing_progress()["current"] != BIG and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.5)
    during = catalog.hashing_progress()
    assert during["current"] == BIG and during["current_size"] == 64 * 1024
    # a piece, then one more per 0.2 s (about 4 by now; unhindered, the 64 take microseconds)
    assert 1024 <= during["current_bytes"] <= 32 * 1024
    foreground.end()
    assert catalog.wait_for_hashes(timeout=WAIT)
    assert catalog.known_hash(model) == real_hash(model)
    catalog.close()
