"""`remgo jobs`: the jobs of a running server.

    remgo jobs [list] [--status queued|running|succeeded|failed|cancelled] [--limit N] [--json]
    remgo jobs show ID [--json]
    remgo jobs cancel ID
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime

from rich.console import Console
from rich.table import Table

from orchestrator.cli_common import EXIT_OK, add_connection_options, connect, guarded, print_json, shorten


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("jobs", help="list, show and cancel the jobs of a running server",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="jobs_command", metavar="COMMAND")
    lister = commands.add_parser("list", help="newest first (the default)")
    lister.add_argument("--status", help="only jobs in this state")
    lister.add_argument("--limit", type=int, default=20, help="how many (default 20)")
    add_connection_options(lister, nested=True)
    show = commands.add_parser("show", help="one job in full")
    show.add_argument("id")
    add_connection_options(show, nested=True)
    cancel = commands.add_parser("cancel", help="cancel a queued or running job")
    cancel.add_argument("id")
    add_connection_options(cancel, nested=True)
    add_connection_options(parser)
    parser.set_defaults(func=guarded("jobs", run), status=None, limit=20)
    return parser


def _time(stamp: float | None) -> str:
    return datetime.fromtimestamp(stamp).strftime("%Y-%m-%d %H:%M:%S") if stamp else ""


def run(args: argparse.Namespace) -> int:
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
        page = client.jobs(status=args.status, limit=args.limit)
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
    Console(width=max(Console().width, 120)).print(table)
    return EXIT_OK
