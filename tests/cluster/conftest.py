"""The ray backend's tests share one two-node Ray cluster per session; skipped only when ray is missing."""

from __future__ import annotations

import pytest

from tests.cluster import ray_cluster  # sets Ray's import-time environment before ray is imported

pytest.importorskip("ray", reason="ray is not installed; `pip install remgo[cluster]` adds it")


@pytest.fixture(scope="session")
def ray_session_cluster(tmp_path_factory):
    # Ray's socket paths must stay short (AF_UNIX limit): a short directory under pytest's base temp.
    root = tmp_path_factory.mktemp("ray", numbered=False)
    with ray_cluster.two_node_cluster(root) as cluster:
        yield cluster


@pytest.fixture
def ray_test_cluster(ray_session_cluster):
    """The session's cluster with both nodes: the GPU node comes back if an earlier test removed it."""
    if ray_session_cluster.gpu_node is None:
        ray_session_cluster.add_gpu_node()
    return ray_session_cluster


@pytest.fixture
def anyio_backend():
    return "asyncio"
