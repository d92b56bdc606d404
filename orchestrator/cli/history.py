"""`remgo history …`: import an existing outputs folder, reconcile the index, list images.

    remgo history import PATH [--copy]   index a Fooocus / RemGo outputs folder (in place unless --copy)
    remgo history reconcile              index files without rows, drop rows without files
    remgo history list [--q TEXT] [--model NAME] [--starred] [--limit N]

Where outputs and the index are comes from the settings (`--config`, `REMGO_*`), or `--outputs` / `--db`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from orchestrator.settings import SettingsError, load_settings
from orchestrator.store.daily_log import DailyLog
from orchestrator.store.history.importer import HistoryImportError, import_folder
from orchestrator.store.history.index import History, default_db_path
from orchestrator.store.history.query import MAX_LIMIT, HistoryQuery, QueryError
from orchestrator.store.history.scan import reconcile
from orchestrator.store.outputs import OutputStore


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the `history` command to a `remgo` sub-command set; its `func(args)` returns the exit code."""
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: never overwrite a --config the top-level parser may already have parsed.
    common.add_argument("--config", default=argparse.SUPPRESS, help="settings TOML file")
    common.add_argument("--outputs", help="outputs folder (default: the outputs_dir setting)")
    common.add_argument("--db", help="history database (default: <outputs>/history.db)")

    parser = subparsers.add_parser("history", help="index, import and list generated images")
    commands = parser.add_subparsers(dest="history_command", required=True, metavar="COMMAND")
    imp = commands.add_parser("import", parents=[common], help="index an existing Fooocus/RemGo outputs folder")
    imp.add_argument("path", help="the folder (date folders, flat files and RemGo's metadata.db are read)")
    imp.add_argument("--copy", action="store_true", help="copy the images into outputs/ instead of indexing in place")
    commands.add_parser("reconcile", parents=[common], help="bring the index in step with the files")
    lister = commands.add_parser("list", parents=[common], help="newest images first, as JSON lines")
    lister.add_argument("--q", help="full-text search over prompts, styles and models (FTS5 syntax: fox OR owl)")
    lister.add_argument("--model", help="only images of this base model (file name or the name its metadata shows)")
    lister.add_argument("--starred", action="store_true", help="only starred images")
    lister.add_argument("--limit", type=int, default=20, help=f"how many (1-{MAX_LIMIT})")
    parser.set_defaults(func=run)
    return parser


def _open(args: argparse.Namespace) -> tuple[History, DailyLog | None]:
    settings = load_settings(getattr(args, "config", None))
    outputs_dir = Path(args.outputs or settings.outputs_dir)
    db_path = Path(args.db) if args.db else default_db_path(outputs_dir)
    history = History(db_path, OutputStore(outputs_dir))
    # What an import or a reconcile changes under a date folder shows on its log page, as with the server.
    return history, DailyLog(history) if settings.daily_log else None


def run(args: argparse.Namespace) -> int:
    try:
        history, daily_log = _open(args)
    except (SettingsError, OSError, RuntimeError) as exc:
        print(f"remgo history: {exc}", file=sys.stderr)
        return 2
    try:
        if args.history_command == "import":
            result = import_folder(history, Path(args.path), copy=args.copy)
        elif args.history_command == "reconcile":
            result = reconcile(history)
        else:
            params = {"limit": str(args.limit)}
            params.update({k: v for k, v in (("q", args.q), ("model", args.model)) if v})
            if args.starred:
                params["starred"] = "true"
            for item in history.page(HistoryQuery.from_params(params)).items:
                print(json.dumps({"id": item.id, "created": item.created, "path": item.path,
                                  "model": item.model, "prompt": item.prompt}, ensure_ascii=False))
            return 0
    except (HistoryImportError, QueryError) as exc:
        print(f"remgo history {args.history_command}: {exc}", file=sys.stderr)
        return 2
    finally:
        if daily_log is not None:
            daily_log.close()
        history.close()
    print(json.dumps(result))
    return 0
