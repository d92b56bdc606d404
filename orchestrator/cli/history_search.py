"""`remgo history search TEXT`: full-text search of a running server's image history, over the API.

    remgo history search "fox" [--model M] [--since 2024-01-01] [--until 2024-12-31] [--starred]
                               [--limit N] [--server URL] [--json]

(`remgo history list/import/reconcile` work on the local files; search asks the server.)
"""

from __future__ import annotations

import argparse

from rich.table import Table

from orchestrator.cli.common import (
    EXIT_OK,
    add_connection_options,
    connect,
    guarded,
    print_json,
    shorten,
    table_console,
)


def _history_commands(subparsers):
    """The sub-command set of `remgo history`, made here when no other module has added `history`."""
    parser = subparsers.choices.get("history")
    if parser is None:
        parser = subparsers.add_parser("history", help="search the image history")
        return parser.add_subparsers(dest="history_command", required=True, metavar="COMMAND")
    # argparse has no public accessor for a parser's sub-command set; this attribute has been stable since 3.2.
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))


def add_parser(subparsers) -> argparse.ArgumentParser:
    search = _history_commands(subparsers).add_parser(
        "search", help="full-text search over prompts, styles and models on a running server", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    search.add_argument("text", help='every word must occur in a prompt, a style or a model name; word* is a '
                                     'prefix; "a phrase", AND, OR, NOT, (groups), styles:anime (FTS5 syntax)')
    search.add_argument("--model", help="only images of this base model (its file name or the name its metadata shows)")
    search.add_argument("--since", help="from this ISO date or datetime")
    search.add_argument("--until", help="up to this ISO date (the whole day) or datetime")
    search.add_argument("--starred", action="store_true", help="only starred images")
    search.add_argument("--limit", type=int, default=20, help="how many (default 20)")
    add_connection_options(search)
    search.set_defaults(func=guarded("history search", run))
    return search


def run(args: argparse.Namespace) -> int:
    with connect(args) as client:
        page = client.history(q=args.text, model=args.model, since=args.since, until=args.until,
                              starred=args.starred, limit=args.limit)
    if args.json:
        print_json(page)
        return EXIT_OK
    if not page["items"]:
        print(f"no image matches {args.text!r}")
        return EXIT_OK
    table = Table(box=None, pad_edge=False)
    for column in ("ID", "CREATED", "MODEL", "SEED", "PROMPT", "URL"):
        table.add_column(column, no_wrap=column != "PROMPT")
    for item in page["items"]:
        seed = "" if item["seed"] is None else str(item["seed"])  # 0 is a seed
        table.add_row(item["id"], item["created"][:19].replace("T", " "), item["model"] or "", seed,
                      shorten(item["prompt"], 80), item["url"])
    table_console(140).print(table)
    if page["next_cursor"]:
        print(f"(more: --limit {args.limit * 2})")
    return EXIT_OK
