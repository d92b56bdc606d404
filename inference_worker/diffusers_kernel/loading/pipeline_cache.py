"""Loaded pipelines kept between tasks, keyed by model file (+ VAE override), least recently used out.

A key includes each file's size and modification time, so replacing a checkpoint on disk reloads it.
"""

from __future__ import annotations

import gc
import os
import threading
from collections import OrderedDict
from collections.abc import Callable

from inference_worker.diffusers_kernel.loading.models import LoadedModel

CacheKey = tuple


def file_key(path: str | None) -> tuple:
    if path is None:
        return (None,)
    real = os.path.realpath(path)
    try:
        st = os.stat(real)
    except OSError:
        return (real,)
    return (real, st.st_size, st.st_mtime_ns)


class PipelineCache:
    def __init__(self, capacity: int, on_evict: Callable[[], None] | None = None) -> None:
        if capacity < 1:
            raise ValueError("pipeline cache capacity must be at least 1")
        self.capacity = capacity
        self._entries: OrderedDict[CacheKey, LoadedModel] = OrderedDict()
        self._lock = threading.Lock()  # health reads names() from the reader thread
        self._on_evict = on_evict
        self.loads = 0  # how many times a model was actually opened (tests and health read it)

    def get(
        self, key: CacheKey, load: Callable[[], LoadedModel], keep: tuple[CacheKey, ...] = ()
    ) -> tuple[LoadedModel, bool]:
        """(model, loaded_now). Entries in `keep` (the other models of the same task) are never evicted
        to make room, so a base model and its refiner stay together even above capacity."""
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key], False
        # Make room first: two full SDXL pipelines may not fit side by side.
        while len(self._entries) >= self.capacity and self._evict_oldest(keep):
            pass
        model = load()
        self.loads += 1
        with self._lock:
            self._entries[key] = model
        return model, True

    def _evict_oldest(self, keep: tuple[CacheKey, ...] = ()) -> bool:
        with self._lock:
            victim = next((k for k in self._entries if k not in keep), None)
            if victim is None:
                return False
            del self._entries[victim]
        gc.collect()
        if self._on_evict:
            self._on_evict()
        return True

    def trim(self, keep: tuple[CacheKey, ...]) -> None:
        """Back down to capacity after a task that needed more, keeping `keep`."""
        while len(self._entries) > self.capacity and self._evict_oldest(keep):
            pass

    def clear(self) -> None:
        while self._entries:
            self._evict_oldest()

    def names(self) -> list[str]:
        with self._lock:
            return [m.name for m in self._entries.values()]
