"""`remgo jobs`: the jobs of a running server.

    remgo jobs [list] [--status queued|running|succeeded|failed|cancelled] [--limit N] [--json]
    remgo jobs show ID [--json]
    remgo jobs cancel ID
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime

from rich.table import Table

from orchestrator.cli.common import (
    EXIT_OK,
    EXIT_REFUSED,
    add_connection_options,
    connect,
    guarded,
    print_json,
    shorten,
    table_console,
)

DEFAULT_LIMIT = 20


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("jobs", help="list, show and cancel the jobs of a running server",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="jobs_command", metavar="COMMAND")
    lister = commands.add_parser("list", help="newest first (the default)")
    _list_options(lister, nested=True)
    add_connection_options(lister, nested=True)
    show = commands.add_parser("show", help="one job in full")
    show.add_argument("id")
    add_connection_options(show, nested=True)
    cancel = commands.add_parser("cancel", help="cancel a queued or running job")
    cancel.add_argument("id")
    add_connection_options(cancel, nested=True)
    _list_options(parser)  # `remgo jobs --limit 3`: listing is the default command
    add_connection_options(parser)
    parser.set_defaults(func=guarded("jobs", run))
    return parser


def _list_options(parser: argparse.ArgumentParser, *, nested: bool = False) -> None:
    # None = not given: `show` and `cancel` refuse them instead of ignoring them. SUPPRESS on `list` keeps a
    # value given before the sub-word (`remgo jobs --limit 3 list`).
    default = {"default": argparse.SUPPRESS} if nested else {"default": None}
    parser.add_argument("--status", help="only jobs in this state", **default)
    parser.add_argument("--limit", type=int, help=f"how many (default {DEFAULT_LIMIT})", **default)


def _time(stamp: float | None) -> str:
    return datetime.fromtimestamp(stamp).strftime("%Y-%m-%d %H:%M:%S") if stamp else ""


def run(args: argparse.Namespace) -> int:
    if args.jobs_command in ("show", "cancel"):
        given = [flag for flag, value in (("--status", args.status), ("--limit", args.limit)) if value is not None]
        if given:
            verb = "apply" if len(given) > 1 else "applies"
            print(f"remgo jobs {args.jobs_command}: {' and '.join(given)} {verb} only to the job list "
                  "(`remgo jobs [list] --status S --limit N`)", file=sys.stderr)
            return EXIT_REFUSED
    with connect(args) as client:
        if args.jobs_command == "cancel":
            result = client.cancel(args.id)
            if args.json:
                print_json(result)
            else:
                print(f"job {result['id']}: {result['status']} ({result['message']})")
            return EXIT_OK
        if args.jobs_command == "show":
            job = client.job(args.id)
            if args.json:
                print_json(job)
            else:
                p = job["progress"]
                print(f"job {job['id']}: {job['status']}, step {p['step']}/{p['total']}, "
                      f"{p['images_done']}/{p['images_total']} images")
                for image in job["images"]:
                    print(f"  image {image['index']}: {image['status']} seed {image['seed']} {image.get('url', '')}")
                for warning in job["warnings"]:
                    print(f"  warning: {warning}")
                if job["error"]:
                    print(f"  error: {job['error']['message']}")
            return EXIT_OK
        page = client.jobs(status=args.status, limit=DEFAULT_LIMIT if args.limit is None else args.limit)
    if args.json:
        print_json(page)
        return EXIT_OK
    if not page["jobs"]:
        print("no jobs" + (f" with status {args.status}" if args.status else ""), file=sys.stderr)
        return EXIT_OK
    table = Table(box=None, pad_edge=False)
    for column in ("ID", "STATUS", "AHEAD", "IMAGES", "CREATED", "ERROR"):
        table.add_column(column, no_wrap=column != "ERROR")
    for job in page["jobs"]:
        error = job["error"]["message"] if job["error"] else ""
        table.add_row(job["id"], job["status"], "" if job["position"] is None else str(job["position"]), f"{job['images_done']}/{job['images_total']}",
                      _time(job["created_at"]), shorten(error, 60))
    table_console(120).print(table)
    return EXIT_OK
