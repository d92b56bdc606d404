"""What every client command of `remgo` shares: which server, which key, JSON output, exit codes.

The server is `--server`, else `REMGO_SERVER`, else the local one the settings describe (host and port of
`--config` / `REMGO_*`). The key is `--api-key`, else `REMGO_API_KEY`, else the first key of the settings.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from typing import Any

from rich.console import Console

from orchestrator.cli.client import ApiError, ClientError, RemgoClient, ServerUnreachable
from orchestrator.settings import SettingsError, load_settings

EXIT_OK = 0
EXIT_FAILED = 1  # the job failed or was cancelled
EXIT_REFUSED = 2  # the server refused the request (or the command line is wrong)
EXIT_UNREACHABLE = 3  # no server answers
EXIT_INTERRUPTED = 130  # Ctrl-C


def add_connection_options(parser: argparse.ArgumentParser, *, json_help: str = "print JSON instead of text",
                           nested: bool = False) -> None:
    """--server, --api-key, --json. `nested`: on a sub-command whose parent has them too; SUPPRESS keeps
    the parent's value (`remgo jobs --json list`) instead of overwriting it with a default."""
    default = {"default": argparse.SUPPRESS} if nested else {}
    group = parser.add_argument_group("server")
    group.add_argument("--server", metavar="URL", help="the remgo server (default: REMGO_SERVER, else the local "
                       "one from the settings, http://127.0.0.1:8888)", **default)
    group.add_argument("--api-key", metavar="KEY", help="API key (default: REMGO_API_KEY, else the settings' first)",
                       **default)
    parser.add_argument("--json", action="store_true", help=json_help, **default)


def _local(args: argparse.Namespace):
    return load_settings(getattr(args, "config", None))


def server_url(args: argparse.Namespace) -> str:
    if args.server:
        return args.server if "://" in args.server else f"http://{args.server}"
    if os.environ.get("REMGO_SERVER"):
        return os.environ["REMGO_SERVER"]
    settings = _local(args)
    host = settings.host
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"  # listening everywhere: the local address reaches it
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{settings.port}"


def api_key(args: argparse.Namespace) -> str | None:
    if args.api_key:
        return args.api_key
    if os.environ.get("REMGO_API_KEY"):
        return os.environ["REMGO_API_KEY"]
    if args.server or os.environ.get("REMGO_SERVER"):
        return None  # another server: the local settings' keys are not its keys
    keys = _local(args).api_keys
    return keys[0] if keys else None


def connect(args: argparse.Namespace, timeout: float = 30.0) -> RemgoClient:
    return RemgoClient(server_url(args), api_key(args), timeout=timeout)


def table_console(min_width: int) -> Console:
    """A console for tables of server data: text is printed as it is (no markup, no highlighting), so a
    prompt's `[red]` stays text and the digits of a file name are not coloured."""
    return Console(width=max(Console().width, min_width), markup=False, highlight=False)


def print_json(value: Any) -> None:
    print(json.dumps(value, ensure_ascii=False, indent=2))


def guarded(name: str, command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """`command` with the client's failures turned into one clear line on stderr and an exit code."""

    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except ServerUnreachable as exc:
            print(f"remgo {name}: {exc}", file=sys.stderr)
            return EXIT_UNREACHABLE
        except ApiError as exc:
            print(f"remgo {name}: {exc}", file=sys.stderr)
            return EXIT_REFUSED
        except (ClientError, SettingsError) as exc:
            print(f"remgo {name}: {exc}", file=sys.stderr)
            return EXIT_REFUSED if isinstance(exc, SettingsError) else EXIT_FAILED
        except KeyboardInterrupt:
            print(f"remgo {name}: interrupted", file=sys.stderr)
            return EXIT_INTERRUPTED

    return run


def shorten(text: str | None, width: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= width else text[: width - 1] + "…"
