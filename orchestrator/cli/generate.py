"""`remgo generate PROMPT`: submit a job to a running server, follow it with a progress bar, save its images.

    remgo generate "a red fox in snow" [-n 2] [--preset P] [--style S ...] [--seed N] [--size 1152x896]
                   [--model M] [--steps N] [--set FIELD=VALUE ...] [--out DIR] [--server URL] [--json]
    remgo generate [PROMPT] --vary subtle|strong IMAGE
    remgo generate [PROMPT] --upscale 1.5x|2x|fast|FACTOR IMAGE
    remgo generate PROMPT --inpaint IMAGE --mask MASK [--outpaint left,top,right,bottom]
    remgo generate [PROMPT] --outpaint left,top IMAGE
    remgo generate PROMPT --image-prompt IMAGE[:TYPE[:STOP[:WEIGHT]]] ...   (up to 4; mixes with the above)

Input images are sent inline (base64) with the request; the server checks them and keeps each once.

Images are saved into --out as they finish and their paths printed (stdout) when the job ends; progress
goes to stderr. Ctrl-C cancels the job on the server. Exit: 0 done, 1 failed or cancelled, 2 refused,
3 no server, 130 interrupted.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import sys
import threading
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

from contract.image_prompt import MAX_IMAGE_PROMPTS, ImagePromptType
from orchestrator.cli.client import RemgoClient
from orchestrator.cli.common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_REFUSED,
    add_connection_options,
    connect,
    guarded,
    print_json,
)
from orchestrator.cli.progress import JobProgress

_SIZE = re.compile(r"^\s*(\d+)\s*[x×*]\s*(\d+)\s*$")
_TERMINAL = {"finished", "failed", "cancelled"}


class UsageError(ValueError):
    pass


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("generate", help="make images on a running server, with a progress bar",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("prompt", nargs="?", default="", help="what to draw (may be empty to vary or upscale)")
    p.add_argument("-n", "--number", dest="image_number", type=int, help="how many images")
    p.add_argument("--negative", help="negative prompt")
    p.add_argument("--preset", help="a preset of the server's catalog (see `remgo models`, /v1/presets)")
    p.add_argument("--style", dest="styles", action="append", metavar="STYLE",
                   help="a style; repeat for more (see `remgo styles`); `--style none` for no style")
    p.add_argument("--performance", help="Quality, Speed, Extreme Speed, Lightning or Hyper-SD")
    p.add_argument("--seed", type=int, help="the first image's seed (default random)")
    p.add_argument("--size", help="WIDTHxHEIGHT, e.g. 1152x896")
    p.add_argument("--model", help="base checkpoint (see `remgo models`)")
    p.add_argument("--steps", type=int, help="sampling steps (overrides the performance's)")
    p.add_argument("--tiling", action="store_true", help="seamless tiling: an image that wraps around at its edges")
    p.add_argument("--set", dest="fields", action="append", default=[], metavar="FIELD=VALUE",
                   help="any other request field, VALUE as JSON or text (e.g. --set guidance_scale=5)")
    p.add_argument("--vary", nargs=2, metavar=("subtle|strong", "IMAGE"), help="Vary (Subtle) or (Strong) IMAGE")
    p.add_argument("--upscale", nargs=2, metavar=("1.5x|2x|fast|FACTOR", "IMAGE"),
                   help="upscale IMAGE: 1.5x, 2x, fast (2x without diffusion) or a factor such as 3 (Custom)")
    p.add_argument("--inpaint", metavar="IMAGE", help="repaint IMAGE where --mask is white")
    p.add_argument("--mask", metavar="MASK", help="the inpaint mask (white = repaint), the image's size")
    p.add_argument("--outpaint", nargs="+", metavar=("left,top,…", "IMAGE"),
                   help="extend the image on these sides; the IMAGE is --inpaint's when that is given")
    p.add_argument("--image-prompt", dest="image_prompts", action="append", default=[],
                   metavar="IMAGE[:TYPE[:STOP[:WEIGHT]]]",
                   help="an image prompt (up to 4): TYPE ImagePrompt (default), FaceSwap, PyraCanny or CPDS; STOP "
                        "and WEIGHT left out (or 0) take the type's default")
    p.add_argument("--priority", type=int, help="higher runs first (-100 … 100)")
    p.add_argument("--out", default=".", help="folder for the images (default: the current one)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress display")
    add_connection_options(p, json_help="print the finished job and the saved files as JSON")
    p.set_defaults(func=guarded("generate", generate))
    return p


def build_request(args: argparse.Namespace) -> dict[str, Any]:
    """The v2 request the flags describe; only what was given (the server fills the rest from the preset)."""
    body: dict[str, Any] = {"prompt": args.prompt}
    simple = {"image_number": args.image_number, "negative_prompt": args.negative, "preset": args.preset,
              "performance_selection": args.performance, "image_seed": args.seed, "base_model_name": args.model,
              "overwrite_step": args.steps}
    body.update({k: v for k, v in simple.items() if v is not None})
    if args.tiling:
        body["tiling"] = True
    if args.styles is not None:
        body["style_selections"] = [] if [s.lower() for s in args.styles] == ["none"] else list(args.styles)
    if args.size is not None:
        m = _SIZE.match(args.size)
        if not m:
            raise UsageError(f"--size: expected WIDTHxHEIGHT like 1152x896, got {args.size!r}")
        body["aspect_ratios_selection"] = f"{m.group(1)}*{m.group(2)}"
    body.update(_input_fields(args))
    if args.image_prompts:
        if len(args.image_prompts) > MAX_IMAGE_PROMPTS:
            raise UsageError(f"--image-prompt: at most {MAX_IMAGE_PROMPTS}, got {len(args.image_prompts)}")
        body["image_prompts"] = [_image_prompt(spec) for spec in args.image_prompts]
    for item in args.fields:
        name, sep, raw = item.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--set: expected FIELD=VALUE, got {item!r}")
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw  # plain text: a name, a prompt
        body[name.strip()] = value
    return body


_VARY = {"subtle": "Vary (Subtle)", "strong": "Vary (Strong)"}
_UPSCALE = {"1.5x": "Upscale (1.5x)", "2x": "Upscale (2x)", "fast": "Upscale (Fast 2x)"}
_SIDES = ("left", "right", "top", "bottom")


def _image_text(flag: str, path: str) -> str:
    """A file as the request carries it inline: base64 of its bytes (the server reads the format itself)."""
    try:
        return base64.b64encode(Path(path).read_bytes()).decode("ascii")
    except OSError as exc:
        raise UsageError(f"{flag}: cannot read {path!r}: {exc.strerror or exc}") from None


_PROMPT_TYPES = {t.value.casefold(): t.value for t in ImagePromptType}


def _number(text: str) -> float | None:
    try:
        return float(text) if text else None
    except ValueError:
        return None


def _image_prompt(spec: str) -> dict[str, Any]:
    """IMAGE[:TYPE[:STOP[:WEIGHT]]] → one image prompt. Read from the right, so a path may hold colons: the
    longest tail that is a type and numbers (an empty one: the default) is the options."""
    for count in (3, 2, 1):
        parts = spec.rsplit(":", count)
        if len(parts) != count + 1 or not parts[0]:
            continue
        path, kind, *numbers = parts
        if kind.casefold() not in _PROMPT_TYPES:
            continue
        if any(n and _number(n) is None for n in numbers):
            raise UsageError(f"--image-prompt: STOP and WEIGHT must be numbers, got {spec!r}")
        prompt: dict[str, Any] = {"image": _image_text("--image-prompt", path), "type": _PROMPT_TYPES[kind.casefold()]}
        for name, text in zip(("stop", "weight"), numbers, strict=False):
            if text:
                prompt[name] = _number(text)
        return prompt
    if ":" in spec and not Path(spec).exists():
        raise UsageError(f"--image-prompt: expected IMAGE[:TYPE[:STOP[:WEIGHT]]] with TYPE one of "
                         f"{', '.join(_PROMPT_TYPES.values())}, got {spec!r}")
    return {"image": _image_text("--image-prompt", spec)}


def _input_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The input-image fields of --vary / --upscale / --inpaint / --outpaint (one feature per job)."""
    chosen = [flag for flag, value in (("--vary", args.vary), ("--upscale", args.upscale),
                                       ("--inpaint", args.inpaint or args.outpaint)) if value]
    if len(chosen) > 1:
        raise UsageError(f"{' and '.join(chosen)}: one input-image feature per job")
    if args.mask and not args.inpaint:
        raise UsageError("--mask goes with --inpaint IMAGE")
    if args.vary:
        how, path = args.vary
        if how.lower() not in _VARY:
            raise UsageError(f"--vary: expected subtle or strong, got {how!r}")
        return {"uov_method": _VARY[how.lower()], "uov_input_image": _image_text("--vary", path)}
    if args.upscale:
        how, path = args.upscale
        body = {"uov_input_image": _image_text("--upscale", path)}
        if how.lower() in _UPSCALE:
            return {**body, "uov_method": _UPSCALE[how.lower()]}
        try:
            factor = float(how.lower().removesuffix("x"))
        except ValueError:
            raise UsageError(f"--upscale: expected 1.5x, 2x, fast or a factor, got {how!r}") from None
        return {**body, "uov_method": "Upscale (Custom)", "upscale_value": factor}
    body: dict[str, Any] = {}
    image = args.inpaint
    if args.outpaint:
        sides, rest = args.outpaint[0], args.outpaint[1:]
        if len(rest) > 1 or (rest and image):
            raise UsageError("--outpaint: give SIDES IMAGE, or SIDES alone with --inpaint IMAGE")
        image = image or (rest[0] if rest else None)
        if image is None:
            raise UsageError("--outpaint: which image? give SIDES IMAGE")
        names = [side.strip().lower() for side in sides.split(",") if side.strip()]
        if not names or any(side not in _SIDES for side in names):
            raise UsageError(f"--outpaint: sides are a comma list of {', '.join(_SIDES)}, got {sides!r}")
        body["outpaint_selections"] = [side.capitalize() for side in names]
    if image is None:
        return body
    body["inpaint_input_image"] = _image_text("--inpaint" if args.inpaint else "--outpaint", image)
    if args.mask:
        body["inpaint_mask_image"] = _image_text("--mask", args.mask)
    return body


def _file_name(url: str) -> str:
    return PurePosixPath(unquote(urlsplit(url).path)).name


class Saver:
    """Downloads each finished image once, into the output folder."""

    def __init__(self, client: RemgoClient, out: Path) -> None:
        self.client = client
        self.out = out
        self.files: dict[int, Path] = {}

    def save(self, image: dict) -> Path | None:
        if image.get("status") != "done" or not image.get("url") or image["index"] in self.files:
            return self.files.get(image["index"])
        self.out.mkdir(parents=True, exist_ok=True)
        path = self.out / _file_name(image["url"])
        data = self.client.download(image["url"])
        tmp = path.with_name(f".{path.name}.part")
        tmp.write_bytes(data)
        tmp.replace(path)
        self.files[image["index"]] = path
        return path


def follow(client: RemgoClient, job_id: str, saver: Saver, progress: JobProgress) -> dict:
    """Follow the job's events to its end, saving images as they come; returns the final job view."""
    for kind, event in client.events(job_id):
        status = event.get("status")
        if kind == "image_ready" and event.get("image"):
            path = saver.save(event["image"])
            if path is not None:
                progress.note(f"saved {path}")
        if kind == "retrying" and event.get("message"):
            progress.note(f"job {job_id}: {event['message']}")
        if kind == "started":
            status = "running"
        progress.update(job_id, event.get("progress"), status or ("running" if kind == "progress" else None))
        if kind in _TERMINAL:
            break
    job = client.job(job_id)
    for image in job["images"]:
        saver.save(image)  # any that finished before the stream was opened
    progress.update(job_id, job["progress"], job["status"])
    return job


def _follow_interruptibly(client, job_id: str, saver: Saver, progress: JobProgress) -> dict:
    """`follow` on a thread of its own, the main thread waiting: Ctrl-C then lands in the wait, never in
    the middle of the HTTP library (where it could leave a connection pool locked and the cancel hanging)."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["job"] = follow(client, job_id, saver, progress)
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread as it is
            outcome["error"] = exc

    follower = threading.Thread(target=run, name="remgo-follow", daemon=True)
    follower.start()
    while follower.is_alive():
        follower.join(0.2)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["job"]


def generate(args: argparse.Namespace) -> int:
    try:
        body = build_request(args)
    except UsageError as exc:
        print(f"remgo generate: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    with connect(args) as client:
        accepted = client.submit(body, priority=args.priority)
        job_id = accepted["id"]
        progress = JobProgress(enabled=not args.quiet)
        ahead = accepted.get("position")
        where = "" if ahead is None else f" ({ahead} job{'s' if ahead != 1 else ''} ahead)"
        progress.add(job_id, f"job {job_id[:8]}")
        progress.note(f"job {job_id} {accepted['status']}{where}; Ctrl-C cancels it")
        saver = Saver(client, Path(args.out))
        try:
            job = _follow_interruptibly(client, job_id, saver, progress)
        except KeyboardInterrupt:
            progress.close()
            with connect(args) as fresh:  # the first client's connections belong to the follower thread
                result = fresh.cancel(job_id)
            print(f"remgo generate: interrupted; cancelled job {job_id} on the server ({result['status']})",
                  file=sys.stderr)
            return EXIT_INTERRUPTED
        finally:
            progress.close()
    for warning in job.get("warnings", []):
        print(f"warning: {warning}", file=sys.stderr)
    files = [str(saver.files[i]) for i in sorted(saver.files)]
    if args.json:
        print_json({"id": job_id, "status": job["status"], "error": job["error"], "warnings": job["warnings"],
                    "images": [{**{k: v for k, v in img.items() if k != "data"},
                                "file": str(saver.files[img["index"]]) if img["index"] in saver.files else None}
                               for img in job["images"]],
                    "files": files})
    else:
        for path in files:
            print(path)
    if job["status"] != "succeeded":
        error = (job.get("error") or {}).get("message") or job["status"]
        print(f"remgo generate: job {job_id} {job['status']}: {error}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK
