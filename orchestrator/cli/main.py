"""`remgo`: the command line.

    remgo serve [--host H] [--port P] [--state-dir D] [--outputs-dir D] [--devices cpu|auto|cuda:0,cuda:1]
                [--backend local|ray] [--ray-address auto|HOST:PORT] [--workers N] [--config FILE]
    remgo history …   (index, import and list images; see `remgo history --help`)
    remgo generate "a red fox" [-n 2] …   remgo jobs [list|show|cancel ID]   remgo history search TEXT
    remgo models [--kind K]   remgo styles [FILTER]      (clients of a running server; see each --help)
    remgo styles import PATH  (a Fooocus install's style files into the catalog, then the server rescans)

Each serve flag is also a `REMGO_*` env var and a key of the TOML file; flags win, then env, then file.
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
from pathlib import Path

from orchestrator.cli import catalog, generate, history, history_search, jobs
from orchestrator.settings import Settings, SettingsError, load_settings

DEMO_MODEL = Path("models") / "checkpoints" / "remgo-demo-sdxl.safetensors"
# Sub-commands other modules provide, each with its `add_parser(subparsers)`: `history` works on the index
# itself; the others are clients of a running server's /v1 API (history search joins `history`).
COMMAND_MODULES = (history, generate, jobs, history_search, catalog)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="remgo", description="SDXL image generation as a service.")
    parser.add_argument("--config", help="settings TOML file (also REMGO_CONFIG)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser("serve", help="run the HTTP API and one worker per device")
    # SUPPRESS: `remgo --config f serve` and `remgo serve --config f` both work.
    serve.add_argument("--config", default=argparse.SUPPRESS, help="settings TOML file (also REMGO_CONFIG)")
    serve.add_argument("--host", help="address to bind (default 127.0.0.1; REMGO_HOST)")
    serve.add_argument("--port", type=int, help="port (default 8888; REMGO_PORT)")
    serve.add_argument("--state-dir", help="where the job database lives (REMGO_STATE_DIR)")
    serve.add_argument("--outputs-dir", help="where images are written (REMGO_OUTPUTS_DIR)")
    serve.add_argument("--devices", help="cpu, auto, or a comma list like cuda:0,cuda:1 (REMGO_DEVICES)")
    serve.add_argument("--log-level", help="debug, info, warning … (REMGO_LOG_LEVEL)")
    # Where workers run (docs/scaling.md).
    serve.add_argument("--backend", choices=("local", "ray"),
                       help="local child processes (default) or Ray actors across a cluster (REMGO_BACKEND)")
    serve.add_argument("--ray-address", help="with --backend ray: auto (default) or the cluster's HOST:PORT "
                       "(REMGO_RAY_ADDRESS)")
    serve.add_argument("--workers", type=int, help="how many workers; needed with --backend ray, one per GPU "
                       "(REMGO_WORKERS)")
    serve.set_defaults(func=serve_command)
    for module in COMMAND_MODULES:
        module.add_parser(commands)
    return parser


def ensure_demo_model(settings: Settings) -> Path | None:
    """With no checkpoint in the catalog, have the worker write a small demo model; returns its path."""
    from orchestrator.catalog import Catalog

    found = Catalog(Path(settings.catalog_dir), [Path(r) for r in settings.model_roots],
                    allow_unsafe_pickles=settings.allow_unsafe_pickles)
    if found.has_checkpoint():
        return None
    path = Path(settings.catalog_dir) / DEMO_MODEL
    print(f"remgo: no checkpoint in {Path(settings.catalog_dir) / 'models' / 'checkpoints'}; making a small "
          f"random-weight demo model at {path} (it draws noise; put a real SDXL checkpoint there for pictures)",
          flush=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([*settings.worker_cmd, "--make-demo-model", str(path)], check=True)
    return path


def serve_command(args: argparse.Namespace) -> int:
    overrides = {
        "host": args.host, "port": args.port, "state_dir": args.state_dir, "outputs_dir": args.outputs_dir,
        "devices": args.devices, "log_level": args.log_level,
        "backend": args.backend, "ray_address": args.ray_address, "workers": args.workers,
    }
    try:
        settings = load_settings(getattr(args, "config", None), overrides=overrides)
    except SettingsError as exc:
        print(f"remgo serve: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        ensure_demo_model(settings)
    except (subprocess.CalledProcessError, OSError) as exc:
        print(f"remgo serve: could not make the demo model: {exc}", file=sys.stderr)
        return 1
    import uvicorn

    from orchestrator.app import create_app
    from orchestrator.jobs.state_lock import StateInUse

    try:
        app = create_app(settings)
    except (SettingsError, StateInUse) as exc:  # found while building the services (ray missing, a server
        print(f"remgo serve: {exc}", file=sys.stderr)  # already on this state folder)
        return 2
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    print(f"remgo: open http://{host}:{settings.port}/ in a browser  (API docs: http://{host}:{settings.port}/docs; "
          "Ctrl-C stops)", flush=True)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level.lower(),
                timeout_graceful_shutdown=15)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
