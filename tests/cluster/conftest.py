"""The ray backend's tests share one two-node Ray cluster; skipped only when ray is missing.

The cluster starts with the first test that asks for it and stops after the last test of this directory,
so the rest of a full run does not share the two cores with an idle Ray.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from tests.cluster import ray_cluster  # sets Ray's import-time environment before ray is imported

pytest.importorskip("ray", reason="ray is not installed; `pip install remgo[cluster]` adds it")

HERE = Path(__file__).resolve().parent


class _SharedCluster:
    def __init__(self) -> None:
        self.stack: contextlib.ExitStack | None = None
        self.cluster: ray_cluster.TestCluster | None = None

    def get(self, tmp_path_factory: pytest.TempPathFactory) -> ray_cluster.TestCluster:
        if self.cluster is None:
            # Ray's socket paths must stay short (AF_UNIX limit): a short directory under pytest's base temp.
            root = tmp_path_factory.mktemp("ray")
            self.stack = contextlib.ExitStack()
            self.cluster = self.stack.enter_context(ray_cluster.two_node_cluster(root))
        return self.cluster

    def close(self) -> None:
        stack, self.stack, self.cluster = self.stack, None, None
        if stack is not None:
            stack.close()


_shared = _SharedCluster()


@pytest.fixture
def ray_test_cluster(tmp_path_factory):
    """The shared cluster with both nodes: the GPU node comes back if an earlier test removed it."""
    cluster = _shared.get(tmp_path_factory)
    if cluster.gpu_node is None:
        cluster.add_gpu_node()
    return cluster


def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    if nextitem is None or Path(nextitem.path).resolve().parent != HERE:
        _shared.close()


def pytest_sessionfinish(session: pytest.Session) -> None:
    _shared.close()


@pytest.fixture
def anyio_backend():
    return "asyncio"
