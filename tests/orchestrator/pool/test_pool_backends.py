"""Choosing where workers run: backend settings, env vars and flags, the local backend's `workers`, and the
ray backend staying out of `import orchestrator.*` (ray itself is exercised in tests/cluster)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.cli.main import main as cli_main
from orchestrator.pool.command import worker_command
from orchestrator.pool.transport import SubprocessTransport
from orchestrator.pool.worker_pool import WorkerPool
from orchestrator.settings import Settings, SettingsError, load_settings

ROOT = Path(__file__).resolve().parents[3]
HAVE_RAY = importlib.util.find_spec("ray") is not None


def test_ray_settings_from_env() -> None:
    env = {"REMGO_BACKEND": "ray", "REMGO_WORKERS": "4", "REMGO_RAY_ADDRESS": "10.0.0.5:6379",
           "REMGO_RAY_NUM_GPUS": "0.5", "REMGO_RAY_RESOURCES": "a100=1,big_disk=0.25"}
    s = load_settings(env=env)
    assert (s.backend, s.workers, s.ray_address, s.ray_num_gpus) == ("ray", 4, "10.0.0.5:6379", 0.5)
    assert s.ray_resources == {"a100": 1.0, "big_disk": 0.25}
    assert s.devices == ["auto"]  # loaded settings: each actor runs on the GPU Ray gives it
    assert load_settings(env={**env, "REMGO_DEVICES": "cpu"}).devices == ["cpu"]


@pytest.mark.parametrize(("env", "source", "words"), [
    ({"REMGO_BACKEND": "k8s"}, "REMGO_BACKEND", "one of local, ray"),
    ({"REMGO_BACKEND": "ray"}, "workers", "needs the number of worker actors"),
    ({"REMGO_BACKEND": "ray", "REMGO_WORKERS": "2", "REMGO_DEVICES": "cuda:0,cuda:1"}, "REMGO_DEVICES", "auto or cpu"),
    ({"REMGO_BACKEND": "ray", "REMGO_WORKERS": "2", "REMGO_RAY_ADDRESS": "ray://h:10001"}, "REMGO_RAY_ADDRESS",
     "not supported"),
    ({"REMGO_BACKEND": "ray", "REMGO_WORKERS": "0"}, "REMGO_WORKERS", ">= 1"),
    ({"REMGO_BACKEND": "ray", "REMGO_WORKERS": "2", "REMGO_RAY_STREAM_TIMEOUT": "0.1"}, "REMGO_RAY_STREAM_TIMEOUT",
     ">= 0.5"),
    ({"REMGO_RAY_ADDRESS": "h:6379"}, "REMGO_RAY_ADDRESS", "only used with backend = ray"),
    ({"REMGO_WORKERS": "2", "REMGO_DEVICES": "auto"}, "REMGO_WORKERS", "one worker per GPU it finds"),
    ({"REMGO_WORKERS": "3", "REMGO_DEVICES": "cuda:0,cuda:1"}, "REMGO_WORKERS", "3 listed devices"),
])
def test_bad_backend_settings_name_their_source(env, source, words) -> None:
    with pytest.raises(SettingsError) as err:
        load_settings(env=env)
    assert err.value.source == source and words in err.value.message, str(err.value)


def test_serve_flags_reach_the_settings(capsys) -> None:
    # Each flag is checked before anything starts: the errors show the flags were read.
    assert cli_main(["serve", "--backend", "ray"]) == 2
    assert "needs the number of worker actors" in capsys.readouterr().err
    assert cli_main(["serve", "--backend", "ray", "--workers", "2", "--ray-address", "ray://h:1"]) == 2
    assert "--ray-address: ray_address: Ray Client" in capsys.readouterr().err
    assert cli_main(["serve", "--workers", "2", "--devices", "auto"]) == 2
    assert "--workers: workers: with devices = auto" in capsys.readouterr().err


def test_local_backend_runs_n_cpu_workers() -> None:
    pool = WorkerPool(Settings(workers=3))
    assert pool.backend.name == "local" and pool.devices == ["cpu", "cpu", "cpu"]
    assert [w.name for w in pool.workers] == ["w0", "w1", "w2"]
    assert all(isinstance(w.transport, SubprocessTransport) for w in pool.workers)
    assert WorkerPool(Settings(devices=["cuda:0", "cuda:1"], workers=2)).devices == ["cuda:0", "cuda:1"]


def test_the_ray_backend_leaves_the_device_to_the_actor() -> None:
    s = Settings(worker_cmd=["remgo-worker"], worker_threads=2)
    assert worker_command(s, None, []) == ["remgo-worker", "--threads", "2"]


# A fresh interpreter: building a ray-backed pool (what `remgo serve --backend ray` does before any worker
# starts) imports neither ray nor torch; ray is imported when the first worker connects, still without torch.
PROBE = r"""
import json, sys
from orchestrator.settings import Settings, SettingsError
from orchestrator.pool.worker_pool import WorkerPool
import orchestrator.pool.ray.backend, orchestrator.pool.ray.actor
try:
    pool = WorkerPool(Settings(backend="ray", workers=2))
    built = [type(w.transport).__name__ for w in pool.workers]
except SettingsError as exc:
    built = str(exc)
loaded = sorted(m for m in ("ray", "torch") if m in sys.modules)
try:
    import ray  # what the first worker's connection does; it must not bring torch along
    torch_with_ray = "torch" in sys.modules
except ImportError:
    torch_with_ray = None
print(json.dumps({"built": built, "loaded": loaded, "torch_with_ray": torch_with_ray}))
"""


def test_building_a_ray_pool_imports_neither_ray_nor_torch() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["loaded"] == []
    if HAVE_RAY:
        assert result["built"] == ["RayTransport", "RayTransport"]
        assert result["torch_with_ray"] is False
    else:
        assert result["built"] == "backend: ray is not installed; `pip install 'remgo[cluster]'` adds it"
