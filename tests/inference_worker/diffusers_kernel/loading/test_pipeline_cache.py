"""The pipeline cache: hits pay no load, capacity evicts the least recently used, file changes reload."""

from __future__ import annotations

import os

from inference_worker.diffusers_kernel.loading.models import LoadedModel
from inference_worker.diffusers_kernel.loading.pipeline_cache import PipelineCache, file_key


def _model(name: str) -> LoadedModel:
    return LoadedModel(name=name, arch="sdxl", pipe=object(), skeleton="")


def test_hits_do_not_load_and_capacity_evicts_oldest():
    evicted = []
    cache = PipelineCache(2, on_evict=lambda: evicted.append(1))
    a, loaded = cache.get("a", lambda: _model("a"))
    assert loaded and cache.loads == 1
    assert cache.get("a", lambda: _model("other")) == (a, False)
    cache.get("b", lambda: _model("b"))
    cache.get("a", lambda: _model("a"))  # a is now the most recent
    cache.get("c", lambda: _model("c"))
    assert cache.names() == ["a", "c"] and evicted == [1] and cache.loads == 3
    cache.clear()
    assert cache.names() == []


def test_file_key_changes_when_the_file_is_replaced(tmp_path):
    path = tmp_path / "m.safetensors"
    path.write_bytes(b"one")
    first = file_key(str(path))
    path.write_bytes(b"second version")
    os.utime(path, ns=(1, 2))
    assert file_key(str(path)) != first
    assert file_key(None) == (None,)
