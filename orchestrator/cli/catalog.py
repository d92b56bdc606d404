"""`remgo models` and `remgo styles`: what a running server offers.

    remgo models [--kind checkpoints|loras|vae|embeddings|upscale|controlnet] [--json]
    remgo styles [FILTER] [--json]
    remgo styles import PATH      (orchestrator/cli/styles.py)
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
from orchestrator.cli.styles import STYLES_USAGE, styles_command


def add_parser(subparsers) -> argparse.ArgumentParser:
    models = subparsers.add_parser("models", help="the models a running server has, by kind")
    models.add_argument("--kind", default="checkpoints",
                        help="checkpoints (default), loras, vae, embeddings, upscale, controlnet or inpaint")
    add_connection_options(models)
    models.set_defaults(func=guarded("models", list_models))
    styles = subparsers.add_parser("styles", usage=STYLES_USAGE,
                                   help="the styles a running server has; `styles import PATH` adds Fooocus's")
    styles.add_argument("filter", nargs="?", help="only styles whose name contains this (any case); `import "
                        "PATH` copies a Fooocus install's style files (or one .json file) into the catalog")
    styles.add_argument("path", nargs="?", help=argparse.SUPPRESS)
    add_connection_options(styles)
    styles.set_defaults(func=styles_command(guarded("styles", list_styles)))
    return models


def _size(n: int | None) -> str:
    if not n:
        return ""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return ""


def list_models(args: argparse.Namespace) -> int:
    with connect(args) as client:
        answer = client.models(args.kind)
    if args.json:
        print_json(answer)
        return EXIT_OK
    if not answer["models"]:
        print(f"no {answer['kind']} on the server")
    for model in answer["models"]:
        extra = [x for x in (model.get("format"), _size(model.get("size"))) if x]
        print(model["name"] + (f"  ({', '.join(extra)})" if extra else ""))
    for refused in answer.get("refused", []):
        print(f"refused: {refused['name']}: {refused['reason']}")
    return EXIT_OK


def list_styles(args: argparse.Namespace) -> int:
    with connect(args) as client:
        styles = client.styles()
    if args.filter:
        needle = args.filter.lower()
        styles = [s for s in styles if needle in s["name"].lower()]
    if args.json:
        print_json(styles)
        return EXIT_OK
    table = Table(box=None, pad_edge=False)
    table.add_column("STYLE", no_wrap=True)
    table.add_column("PROMPT")
    for style in styles:
        text = style.get("special", "").replace("_", " ") if style.get("special") else style.get("prompt", "")
        table.add_row(style["name"], shorten(text, 90))
    table_console(120).print(table)
    return EXIT_OK
