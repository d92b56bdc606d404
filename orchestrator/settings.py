"""The orchestrator's settings: one Struct, filled from a TOML file, then `REMGO_*` env vars, then CLI flags.

Later sources win. Every key is checked: an unknown key or a value of the wrong type is a `SettingsError`
naming where it came from (`REMGO_PORT`, `config.toml: port`, `--port`).
"""

from __future__ import annotations

import os
import platform
import re
import shlex
import subprocess
import sys
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import msgspec

ENV_PREFIX = "REMGO_"
# Read when no --config / REMGO_CONFIG is given and it exists in the working directory.
DEFAULT_CONFIG_FILE = "remgo.toml"
_LOG_LEVELS = ("critical", "error", "warning", "info", "debug")
_DEVICE_RE = re.compile(r"^(cpu|auto|mps|cuda|cuda:\d+)$")
BACKENDS = ("local", "ray")


def _default_worker_cmd() -> list[str]:
    return [sys.executable, "-m", "inference_worker"]


class Settings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    host: str = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 8888
    state_dir: str = "state"
    outputs_dir: str = "outputs"
    catalog_dir: str = "catalog"
    model_roots: list[str] = []
    # ["cpu"], ["cuda:0", "cuda:1"], or ["auto"] (one worker per GPU listed by `nvidia-smi -L`, else cpu).
    devices: list[str] = msgspec.field(default_factory=lambda: ["cpu"])
    worker_cmd: list[str] = msgspec.field(default_factory=_default_worker_cmd)
    worker_kernel: str | None = None  # `--kernel` for each worker; None: the worker's default
    worker_threads: Annotated[int, msgspec.Meta(ge=1)] | None = None
    worker_env: dict[str, str] = {}
    worker_start_timeout: Annotated[float, msgspec.Meta(gt=0)] = 300.0
    # A busy worker that sends no progress for this long is killed and respawned.
    watchdog_seconds: Annotated[float, msgspec.Meta(gt=0)] = 300.0
    respawn_backoff_max: Annotated[float, msgspec.Meta(gt=0)] = 30.0
    queue_limit: Annotated[int, msgspec.Meta(ge=1)] = 1000
    api_keys: list[str] = []
    cors_origins: list[str] = []
    # Names a request's Host header may carry besides localhost and the bind address (DNS rebinding guard);
    # "*.example.org" matches sub-domains, "*" any name.
    allowed_hosts: list[str] = []
    max_body_bytes: Annotated[int, msgspec.Meta(ge=1024)] = 8 * 1024 * 1024
    default_preset: str = "default"
    allow_unsafe_pickles: bool = False
    webhook_secret: str | None = None
    webhook_max_attempts: Annotated[int, msgspec.Meta(ge=1, le=20)] = 5
    webhook_backoff: Annotated[float, msgspec.Meta(ge=0)] = 1.0
    webhook_timeout: Annotated[float, msgspec.Meta(gt=0)] = 10.0
    # Webhooks to this machine or private networks (loopback, 10/8, 192.168/16, link-local …): off, as SSRF.
    webhook_allow_private: bool = False
    # Previews carried in progress events; `preview_enabled = false` turns them off for every job.
    preview_enabled: bool = True
    preview_every_n_steps: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 1
    preview_max_side: Annotated[int, msgspec.Meta(ge=16, le=1024)] = 256
    preview_quality: Annotated[int, msgspec.Meta(ge=1, le=100)] = 75
    event_queue_size: Annotated[int, msgspec.Meta(ge=8)] = 256
    # Input images (uploads, inline ones) are kept this long after they were last sent, then removed at the
    # next start unless a job still to run needs them.
    input_retention_days: Annotated[float, msgspec.Meta(gt=0)] = 7.0
    # outputs/YYYY-MM-DD/log.html: every image of the folder with its parameters (docs/outputs.md).
    daily_log: bool = True
    log_level: str = "info"
    # RemGo's HTTP API at the root paths (/settings, /generate, /ws …), for its web frontend and scripts.
    remgo_compat: bool = True
    # AUTOMATIC1111's API at /sdapi/v1/ (docs/api-a1111.md), and its `--api-auth` logins ("user:pass"), HTTP Basic.
    a1111_compat: bool = True
    a1111_api_auth: list[str] = []
    # Fooocus-API's HTTP API (/v1/generation/…, /v2/generation/…, /v1/engines/…, /files/…) for its clients.
    fooocus_api_compat: bool = True
    # Hosts whose http(s) image URLs the Fooocus-API routes fetch as input images ("*.example.org": its
    # sub-domains). Empty: none (SSRF); addresses on this machine or private networks are never fetched.
    fooocus_api_url_hosts: list[str] = []
    # The settings file in use (set by load_settings, never read from a source); the config editor writes it.
    config_file: str | None = None
    # ----- where workers run (docs/scaling.md) -----
    # local: one child process per device. ray: one Ray actor per worker on a Ray cluster; there `devices`
    # is auto (the GPU Ray gives each actor, else cpu; the default when settings are loaded) or cpu.
    backend: str = "local"
    workers: Annotated[int, msgspec.Meta(ge=1, le=4096)] | None = None  # local: N cpu workers; ray: required
    ray_address: str = "auto"  # auto (RAY_ADDRESS or the cluster started on this node), HOST:PORT or local
    ray_num_gpus: Annotated[float, msgspec.Meta(ge=0)] = 1.0  # GPUs each worker actor reserves
    ray_num_cpus: Annotated[float, msgspec.Meta(ge=0)] = 1.0
    ray_resources: dict[str, Annotated[float, msgspec.Meta(ge=0)]] = {}  # custom Ray resources per actor
    ray_max_restarts: Annotated[int, msgspec.Meta(ge=-1)] = 0  # Ray restarts a dead actor this often (-1: always)
    # A Ray worker whose stream sends nothing (not even the heartbeat) for this long counts as gone.
    ray_stream_timeout: Annotated[float, msgspec.Meta(ge=0.5, le=600)] = 10.0

    def __post_init__(self) -> None:
        for device in self.devices:
            if not _DEVICE_RE.match(device):
                raise ValueError(f"devices: {device!r} is not cpu, auto, mps, cuda or cuda:N")
        if not self.devices:
            raise ValueError("devices: at least one device is needed")
        if "auto" in self.devices and len(self.devices) > 1:
            raise ValueError("devices: 'auto' cannot be combined with named devices")
        if not self.worker_cmd:
            raise ValueError("worker_cmd: must not be empty")
        if self.log_level.lower() not in _LOG_LEVELS:
            raise ValueError(f"log_level: one of {', '.join(_LOG_LEVELS)}, got {self.log_level!r}")
        self._check_backend()

    def _check_backend(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"backend: one of {', '.join(BACKENDS)}, got {self.backend!r}")
        if self.backend == "ray":
            if self.workers is None:
                raise ValueError("workers: the ray backend needs the number of worker actors (--workers N)")
            if self.devices not in (["auto"], ["cpu"]):
                raise ValueError(f"devices: with the ray backend use auto or cpu (each actor gets its GPU from "
                                 f"Ray), got {','.join(self.devices)}")
            if self.ray_address.startswith("ray://"):
                raise ValueError("ray_address: Ray Client (ray://) addresses are not supported; run remgo on a "
                                 "node of the cluster and give auto or the GCS HOST:PORT")
        elif self.workers is not None and self.devices == ["auto"]:
            raise ValueError("workers: with devices = auto the local backend runs one worker per GPU it finds; "
                             "leave workers unset or list the devices")
        elif self.workers is not None and self.devices != ["cpu"] and self.workers != len(self.devices):
            raise ValueError(f"workers: the local backend runs one worker per device; {self.workers} workers "
                             f"need devices = cpu (N cpu workers) or {self.workers} listed devices")


class SettingsError(ValueError):
    """A bad setting; `source` says where it was given (env var, config key or flag)."""

    def __init__(self, source: str, message: str) -> None:
        super().__init__(f"{source}: {message}")
        self.source = source
        self.message = message


FIELDS: tuple[str, ...] = tuple(f for f in Settings.__struct_fields__ if f != "config_file")
# Env var names that differ from REMGO_<FIELD>.
ENV_NAMES = {name: f"{ENV_PREFIX}{name.upper()}" for name in FIELDS} | {"remgo_compat": "REMGO_COMPAT"}
_LIST_FIELDS = {"model_roots", "devices", "worker_cmd", "api_keys", "cors_origins", "allowed_hosts",
                "fooocus_api_url_hosts", "a1111_api_auth"}


def _split_env(name: str, value: str) -> Any:
    """Env vars are strings: lists are split (paths by os.pathsep, commands like a shell, others by comma)."""
    if name == "model_roots":
        return [p for p in value.split(os.pathsep) if p]
    if name == "worker_cmd":
        return shlex.split(value)
    if name in _LIST_FIELDS:
        return [p.strip() for p in value.split(",") if p.strip()]
    if name in ("worker_env", "ray_resources"):
        return dict(kv.split("=", 1) for kv in value.split(",") if "=" in kv)
    return value


def _check(values: Mapping[str, Any], source_of: Mapping[str, str]) -> Settings:
    try:
        return msgspec.convert(dict(values), Settings, strict=False)
    except msgspec.ValidationError as exc:
        text = str(exc)
        m = re.search(r"`\$\.(\w+)", text) or re.search(r"unknown field `(\w+)`", text)
        key = m.group(1) if m else None
        if key is None:
            for name in FIELDS:  # __post_init__ messages start with the field name
                if text.startswith(f"{name}:"):
                    key = name
        message = text.split(" - at ")[0]
        raise SettingsError(source_of.get(key or "", key or "settings"), message) from None


def load_settings(
    config: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """TOML file (`config`, else `REMGO_CONFIG`), then `REMGO_*` env vars, then `overrides` (CLI flags)."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    source_of: dict[str, str] = {}
    config = config or env.get(f"{ENV_PREFIX}CONFIG")
    if not config and Path(DEFAULT_CONFIG_FILE).is_file():
        config = DEFAULT_CONFIG_FILE
    if config:
        path = Path(config)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SettingsError("--config", f"no such file: {path}") from None
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(str(path), f"not valid TOML: {exc}") from None
        data = data.get("remgo", data)  # a `[remgo]` table or top-level keys
        for key, value in data.items():
            if key not in FIELDS:
                raise SettingsError(f"{path}: {key}", f"unknown setting; known: {', '.join(FIELDS)}")
            values[key] = ["auto"] if key == "devices" and value == "auto" else value
            source_of[key] = f"{path}: {key}"
    for name in FIELDS:
        raw = env.get(ENV_NAMES[name])
        if raw is not None:
            values[name] = _split_env(name, raw)
            source_of[name] = ENV_NAMES[name]
    for name, value in (overrides or {}).items():
        if value is None:
            continue
        if name not in FIELDS:
            raise SettingsError(f"--{name.replace('_', '-')}", "unknown setting")
        values[name] = _split_env(name, value) if isinstance(value, str) else value
        source_of[name] = f"--{name.replace('_', '-')}"
    if values.get("backend") != "ray":
        for key in values:
            if key.startswith("ray_"):
                raise SettingsError(source_of[key], "only used with backend = ray")
    elif "devices" not in values:
        values["devices"] = ["auto"]  # a Ray actor runs on the GPU Ray reserved for it
    values["config_file"] = str(Path(config or DEFAULT_CONFIG_FILE).absolute())
    settings = _check(values, source_of)
    if settings.backend == "local":
        problem = device_problem(settings.devices, env=env)
        if problem:
            raise SettingsError(source_of.get("devices", "devices"), problem)
    return settings


def _gpu_indexes(env: Mapping[str, str], nvidia_smi: str) -> list[int] | None:
    """The CUDA device numbers a worker can open: one per GPU `nvidia-smi -L` lists, or as many as
    CUDA_VISIBLE_DEVICES names; None when nvidia-smi cannot be run."""
    try:
        out = subprocess.run([nvidia_smi, "-L"], capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    count = len(re.findall(r"^GPU \d+:", out.stdout, re.MULTILINE))
    visible = env.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        count = min(count, len([v for v in visible.split(",") if v.strip() and not v.strip().startswith("-")]))
    return list(range(count))


def device_problem(devices: list[str], *, env: Mapping[str, str] | None = None, nvidia_smi: str = "nvidia-smi",
                   system: str | None = None, machine: str | None = None) -> str | None:
    """Why a worker could not open one of the named devices on this machine, or None. Checked when settings
    load, so a wrong device is one clear message instead of a worker that fails and respawns forever."""
    env = os.environ if env is None else env
    system = system or platform.system()
    machine = machine or platform.machine()
    if "mps" in devices and not (system == "Darwin" and machine == "arm64"):
        return f"mps (the Apple GPU) exists only on macOS with Apple silicon, not on {system} {machine}; use cpu"
    wanted = [d for d in devices if d.startswith("cuda")]
    if not wanted:
        return None
    gpus = _gpu_indexes(env, nvidia_smi)
    if not gpus:
        return (f"{wanted[0]}: no NVIDIA GPU found on this machine "
                f"({'nvidia-smi cannot be run' if gpus is None else 'nvidia-smi -L lists none visible'}); use cpu")
    for device in wanted:
        index = 0 if device == "cuda" else int(device[5:])
        if index not in gpus:
            names = ", ".join(f"cuda:{n}" for n in gpus)
            return f"{device}: this machine has {len(gpus)} GPU{'s' if len(gpus) > 1 else ''} ({names})"
    return None


def resolve_devices(devices: list[str], *, nvidia_smi: str = "nvidia-smi") -> list[str]:
    """Expand "auto" into one `cuda:N` per GPU that `nvidia-smi -L` lists (no torch), or `cpu` if none."""
    if devices != ["auto"]:
        return list(devices)
    try:
        out = subprocess.run([nvidia_smi, "-L"], capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ["cpu"]
    gpus = [int(m.group(1)) for m in re.finditer(r"^GPU (\d+):", out.stdout, re.MULTILINE)]
    return [f"cuda:{n}" for n in gpus] if out.returncode == 0 and gpus else ["cpu"]
