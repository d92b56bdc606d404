"""`python -m inference_worker` = `remgo-worker`: the stdio JSON-RPC worker (or `--make-demo-model PATH`)."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from inference_worker.kernel import DEFAULT_KERNEL, REGISTRY, KernelOptions

DTYPES = ("float32", "float16", "bfloat16")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="remgo-worker",
        description="remgo inference worker: JSON-RPC 2.0 over stdin/stdout, one object per line.",
    )
    p.add_argument(
        "--kernel",
        default=DEFAULT_KERNEL,
        help=f"kernel to run: one of {sorted(REGISTRY)} or 'module:Class' (default: {DEFAULT_KERNEL})",
    )
    p.add_argument("--device", default="cpu", help="cpu, mps or cuda:N (default: cpu)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument(
        "--model-root",
        action="append",
        default=[],
        metavar="DIR",
        help="folder model paths must lie under (repeatable); with none, any absolute path is allowed",
    )
    p.add_argument("--dtype", choices=DTYPES, default=None, help="default: float32 on CPU, float16 on CUDA")
    p.add_argument(
        "--pipeline-cache", type=int, default=1, metavar="N", help="pipelines kept loaded (default 1)"
    )
    p.add_argument(
        "--allow-pickle",
        action="store_true",
        help="also load .ckpt/.pt pickle checkpoints (they can run arbitrary code: trusted files only)",
    )
    p.add_argument(
        "--make-demo-model",
        metavar="PATH",
        default=None,
        help="write a small random-weight SDXL single-file checkpoint to PATH and exit",
    )
    p.add_argument("--log-level", default=os.environ.get("REMGO_WORKER_LOG", "INFO"))
    return p


def _check_device(device: str) -> str:
    if device in ("cpu", "mps") or (device.startswith("cuda") and (device == "cuda" or device[5:].isdigit())):
        return device
    raise SystemExit(f"remgo-worker: --device must be cpu, mps, cuda or cuda:N, got {device!r}")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=args.log_level.upper(),
        format="%(asctime)s worker[%(process)d] %(levelname)s %(message)s",
    )
    if args.make_demo_model:
        from inference_worker.model_builders.demo_model import make_demo_model

        make_demo_model(args.make_demo_model)
        return 0
    if args.pipeline_cache < 1:
        raise SystemExit("remgo-worker: --pipeline-cache must be at least 1")
    if args.threads is not None and args.threads < 1:
        raise SystemExit("remgo-worker: --threads must be at least 1")
    options = KernelOptions(
        device=_check_device(args.device),
        dtype=args.dtype,
        threads=args.threads,
        model_roots=tuple(os.path.abspath(r) for r in args.model_root),
        pipeline_cache=args.pipeline_cache,
        allow_pickle=args.allow_pickle,
    )
    # Imported here so `--help` and `--make-demo-model` stay light.
    from inference_worker.server import WorkerServer
    from inference_worker.stdio import FrameWriter, claim_stdout

    out = FrameWriter(claim_stdout())
    server = WorkerServer(args.kernel, options, out)
    code = server.serve(sys.stdin.buffer)
    sys.stderr.flush()
    return code


if __name__ == "__main__":
    sys.exit(main())
