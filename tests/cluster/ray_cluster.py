"""A private two-node Ray cluster on 127.0.0.1 for the ray backend's tests.

Everything Ray writes goes under a pytest temporary directory (RAY_TMPDIR, temp_dir, the auth token), usage
stats are off, no dashboard, every node binds 127.0.0.1. The head has one fake GPU; the second node has two,
with CUDA_VISIBLE_DEVICES=5,7 in its environment, so Ray hands its actors GPU ids "5" and "7". Both nodes
offer one `pair_slot`, a custom resource a test can ask for to get exactly one actor per node.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Read when ray is imported. The first keeps the driver's idea of "this node" on loopback (Ray would
# otherwise rewrite 127.0.0.1 to the machine's routable address, where nothing of this cluster listens);
# token authentication is on, with the token in a file of the test's own (RAY_AUTH_TOKEN_PATH, set later).
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
os.environ["RAY_AUTH_MODE"] = "token"

OBJECT_STORE = 80 * 1024 * 1024  # Ray's minimum is 75 MiB
NODE = dict(node_ip_address="127.0.0.1", object_store_memory=OBJECT_STORE)
HEAD = dict(NODE, num_cpus=2, num_gpus=1, resources={"pair_slot": 1}, include_dashboard=False)
GPU_NODE = dict(NODE, num_cpus=2, num_gpus=2, resources={"pair_slot": 1})
GPU_NODE_DEVICES = "5,7"


@dataclass
class TestCluster:
    cluster: Any  # ray.cluster_utils.Cluster
    root: Path
    gpu_node: Any = None
    removed: list[Any] = field(default_factory=list)

    @property
    def address(self) -> str:
        return self.cluster.address

    def add_gpu_node(self) -> Any:
        """The second node: two fake GPUs that Ray knows as 5 and 7."""
        previous = os.environ.get("CUDA_VISIBLE_DEVICES")
        os.environ["CUDA_VISIBLE_DEVICES"] = GPU_NODE_DEVICES  # the raylet inherits it
        try:
            self.gpu_node = self.cluster.add_node(**GPU_NODE)
        finally:
            if previous is None:
                os.environ.pop("CUDA_VISIBLE_DEVICES", None)
            else:
                os.environ["CUDA_VISIBLE_DEVICES"] = previous
        return self.gpu_node

    def remove_gpu_node(self) -> None:
        node, self.gpu_node = self.gpu_node, None
        self.cluster.remove_node(node, allow_graceful=False)


def _set_env(root: Path) -> dict[str, str | None]:
    token = root / "auth_token"
    token.write_text(secrets.token_hex(32))
    token.chmod(0o600)
    values = {"RAY_TMPDIR": str(root), "RAY_AUTH_TOKEN_PATH": str(token)}
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    return old


@contextmanager
def two_node_cluster(root: Path) -> Iterator[TestCluster]:
    from ray.cluster_utils import Cluster

    (root / "ray").mkdir(parents=True, exist_ok=True)
    old = _set_env(root)
    cluster = Cluster(initialize_head=True, head_node_args=dict(HEAD, temp_dir=str(root)))
    try:
        tc = TestCluster(cluster=cluster, root=root)
        tc.add_gpu_node()
        cluster.wait_for_nodes(30)
        yield tc
    finally:
        cluster.shutdown()
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
