"""Settings: defaults, TOML < env < CLI precedence, errors that name their source, device discovery."""

import os
import stat
import sys

import pytest

from orchestrator.settings import Settings, SettingsError, device_problem, load_settings, resolve_devices


def test_defaults_are_safe() -> None:
    s = load_settings(env={})
    assert s.host == "127.0.0.1" and s.port == 8888
    assert s.devices == ["cpu"] and s.api_keys == [] and s.cors_origins == []
    assert s.worker_cmd == [sys.executable, "-m", "inference_worker"]


def test_toml_then_env_then_flags(tmp_path) -> None:
    cfg = tmp_path / "remgo.toml"
    cfg.write_text('port = 9001\nhost = "0.0.0.0"\nstate_dir = "/tmp/s"\ndevices = "auto"\n')
    s = load_settings(cfg, env={})
    assert (s.port, s.host, s.state_dir, s.devices) == (9001, "0.0.0.0", "/tmp/s", ["auto"])
    s = load_settings(cfg, env={"REMGO_PORT": "9002"})
    assert s.port == 9002 and s.host == "0.0.0.0"
    s = load_settings(cfg, env={"REMGO_PORT": "9002"}, overrides={"port": 9003, "host": None})
    assert s.port == 9003 and s.host == "0.0.0.0"


def test_config_from_env_and_remgo_table(tmp_path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[remgo]\nqueue_limit = 3\napi_keys = ["k1"]\n')
    s = load_settings(env={"REMGO_CONFIG": str(cfg)})
    assert s.queue_limit == 3 and s.api_keys == ["k1"]


def gpus_on_path(monkeypatch, tmp_path, count: int) -> None:
    """A fake `nvidia-smi` first on PATH, listing `count` GPUs."""
    lines = "\n".join(f"GPU {n}: NVIDIA H100 (UUID: GPU-{n})" for n in range(count))
    _fake_smi(tmp_path, lines)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")


def test_env_lists(monkeypatch, tmp_path) -> None:
    gpus_on_path(monkeypatch, tmp_path, 2)
    env = {
        "REMGO_MODEL_ROOTS": os.pathsep.join(["/a", "/b"]),
        "REMGO_DEVICES": "cuda:0, cuda:1",
        "REMGO_API_KEYS": "x,y",
        "REMGO_WORKER_CMD": "python3 -m 'inference_worker'",
        "REMGO_PREVIEW_ENABLED": "false",
    }
    s = load_settings(env=env)
    assert s.model_roots == ["/a", "/b"]
    assert s.devices == ["cuda:0", "cuda:1"]
    assert s.api_keys == ["x", "y"]
    assert s.worker_cmd == ["python3", "-m", "inference_worker"]
    assert s.preview_enabled is False


@pytest.mark.parametrize(
    ("kwargs", "source"),
    [
        ({"env": {"REMGO_PORT": "eighty"}}, "REMGO_PORT"),
        ({"env": {"REMGO_DEVICES": "gpu0"}}, "REMGO_DEVICES"),
        ({"env": {}, "overrides": {"port": 70000}}, "--port"),
        ({"env": {}, "overrides": {"devices": "auto,cpu"}}, "--devices"),
        ({"env": {"REMGO_LOG_LEVEL": "loud"}}, "REMGO_LOG_LEVEL"),
    ],
)
def test_errors_name_their_source(kwargs, source) -> None:
    with pytest.raises(SettingsError) as err:
        load_settings(**kwargs)
    assert err.value.source == source


def test_unknown_and_broken_config(tmp_path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("prot = 1\n")
    with pytest.raises(SettingsError, match="prot"):
        load_settings(cfg, env={})
    cfg.write_text("port = \n")
    with pytest.raises(SettingsError, match="TOML"):
        load_settings(cfg, env={})
    with pytest.raises(SettingsError, match="no such file"):
        load_settings(tmp_path / "missing.toml", env={})


def _fake_smi(tmp_path, body: str, code: int = 0) -> str:
    script = tmp_path / "nvidia-smi"
    script.write_text(f"#!/bin/sh\ncat <<'X'\n{body}\nX\nexit {code}\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


def test_auto_devices(tmp_path) -> None:
    smi = _fake_smi(tmp_path, "GPU 0: NVIDIA H100 (UUID: GPU-1)\nGPU 1: NVIDIA H100 (UUID: GPU-2)")
    assert resolve_devices(["auto"], nvidia_smi=smi) == ["cuda:0", "cuda:1"]
    assert resolve_devices(["auto"], nvidia_smi=str(tmp_path / "absent")) == ["cpu"]
    failing = _fake_smi(tmp_path, "NVIDIA-SMI has failed", code=9)
    assert resolve_devices(["auto"], nvidia_smi=failing) == ["cpu"]
    assert resolve_devices(["cuda:1"]) == ["cuda:1"]


def test_struct_rejects_empty_worker_cmd() -> None:
    with pytest.raises(SettingsError, match="worker_cmd"):
        load_settings(env={}, overrides={"worker_cmd": []})
    assert Settings().port == 8888


def test_devices_this_machine_lacks_are_refused_when_settings_load(monkeypatch, tmp_path) -> None:
    one = _fake_smi(tmp_path, "GPU 0: NVIDIA H100 (UUID: GPU-1)")
    assert device_problem(["cuda:0"], env={}, nvidia_smi=one) is None
    assert device_problem(["cuda:3"], env={}, nvidia_smi=one) == "cuda:3: this machine has 1 GPU (cuda:0)"
    assert "no NVIDIA GPU found" in device_problem(["cuda"], env={}, nvidia_smi=str(tmp_path / "absent"))
    two = _fake_smi(tmp_path, "GPU 0: A (UUID: 1)\nGPU 1: B (UUID: 2)")
    assert device_problem(["cuda:1"], env={"CUDA_VISIBLE_DEVICES": "1"}, nvidia_smi=two).startswith("cuda:1:")
    linux = device_problem(["mps"], env={}, system="Linux", machine="x86_64")
    assert "macOS with Apple silicon" in linux and "Linux x86_64" in linux
    assert device_problem(["mps"], env={}, system="Darwin", machine="arm64") is None
    assert device_problem(["cpu"], env={}, nvidia_smi=str(tmp_path / "absent")) is None

    gpus_on_path(monkeypatch, tmp_path, 1)
    with pytest.raises(SettingsError) as caught:
        load_settings(env={"REMGO_DEVICES": "cuda:0,cuda:3"})
    assert caught.value.source == "REMGO_DEVICES" and "this machine has 1 GPU" in str(caught.value)
    assert load_settings(env={"REMGO_DEVICES": "cuda:0"}).devices == ["cuda:0"]
