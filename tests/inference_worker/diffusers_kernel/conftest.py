"""The fixtures every fidelity module shares: one kernel per module (a module that needs another cache size
defines its own) and a task builder on the session's tiny models."""

from __future__ import annotations

import pytest

from tests.inference_worker.diffusers_kernel.fidelity_models import new_kernel, task_builder


@pytest.fixture(scope="module")
def kernel():
    return new_kernel()


@pytest.fixture(scope="module")
def make(tiny_models):
    return task_builder(tiny_models)
