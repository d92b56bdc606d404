"""Worker overhead: one image through the worker over RPC vs. a bare diffusers pipeline call in process.

Same small-but-not-trivial random SDXL model, same size, steps, guidance and thread count. Runs are
interleaved (worker, pipeline, worker, …) so drift hits both sides alike. Prints the two medians and
their ratio (target ≤ 1.03), and the worker's cold start: to its first `health` answer and to its
first image (which includes loading the model).

    .venv/bin/python bench/kernel_overhead.py [--size 256] [--steps 8] [--repeats 7] [--threads 1]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time

from _sdxl_model import build_model, parse_args  # puts the repository on sys.path

from inference_worker.process_client import WorkerClient, default_worker_cmd


def main() -> int:
    args = parse_args(__doc__)

    import torch

    torch.set_num_threads(args.threads)
    tmp = tempfile.mkdtemp(prefix="remgo-bench-")
    path, skeleton = build_model(tmp, args.model_width)
    prompt, negative, guidance = "a lighthouse on a cliff at dusk", "blurry", 5.0

    def task(i: int) -> dict:
        return {
            "task_id": f"bench-{i}",
            "base_model": {"name": "bench", "path": path},
            "width": args.size,
            "height": args.size,
            "seeds": [1234 + i],
            "steps": args.steps,
            "sampler": "euler",
            "scheduler": "normal",
            "guidance_scale": guidance,
            "positive": [prompt],
            "negative": [negative],
        }

    # ----- cold start ------------------------------------------------------------------------------
    started = time.perf_counter()
    worker = WorkerClient(
        default_worker_cmd(), "--threads", str(args.threads), env={"OMP_NUM_THREADS": str(args.threads)}
    )
    worker.call("health", timeout=120)
    to_health = time.perf_counter() - started
    first = worker.call("generate", task(0), timeout=600)
    to_image = time.perf_counter() - started
    if "error" in first:
        print("worker failed:", first["error"], file=sys.stderr)
        return 1

    # ----- the bare pipeline -------------------------------------------------------------------------
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline

    pipe = StableDiffusionXLPipeline.from_single_file(path, config=skeleton, local_files_only=True)
    pipe.scheduler = EulerDiscreteScheduler.from_config(pipe.scheduler.config, timestep_spacing="linspace")
    pipe.set_progress_bar_config(disable=True)

    def bare(i: int) -> None:
        gen = torch.Generator().manual_seed(1234 + i)
        pipe(
            prompt,
            negative_prompt=negative,
            num_inference_steps=args.steps,
            guidance_scale=guidance,
            width=args.size,
            height=args.size,
            generator=gen,
        )

    bare(0)  # warm-up, like the worker's first image
    rpc_times, bare_times = [], []

    def via_worker(i: int) -> None:
        t = time.perf_counter()
        answer = worker.call("generate", task(i), timeout=600)
        rpc_times.append(time.perf_counter() - t)
        assert "result" in answer, answer

    def in_process(i: int) -> None:
        t = time.perf_counter()
        bare(i)
        bare_times.append(time.perf_counter() - t)

    for i in range(1, args.repeats + 1):
        # Alternate which side goes first so slow drift in machine load hits both alike.
        for run in (via_worker, in_process) if i % 2 else (in_process, via_worker):
            run(i)
    worker.call("shutdown")
    worker.close()

    rpc_med, bare_med = statistics.median(rpc_times), statistics.median(bare_times)
    print(
        f"model: SDXL-shaped, UNet width {args.model_width}, {args.size}x{args.size}, {args.steps} steps, "
        f"guidance {guidance}, {args.threads} threads, {args.repeats} runs each"
    )
    print(f"worker over RPC:         median {rpc_med * 1000:8.1f} ms   min {min(rpc_times) * 1000:8.1f} ms")
    print(f"bare diffusers pipeline: median {bare_med * 1000:8.1f} ms   min {min(bare_times) * 1000:8.1f} ms")
    print(
        f"ratio worker / bare:     median {rpc_med / bare_med:8.3f}      min {min(rpc_times) / min(bare_times):8.3f}"
        "   (target <= 1.03)"
    )
    print(f"worker cold start → first health answer: {to_health * 1000:8.1f} ms")
    print(
        f"worker cold start → first image:         {to_image * 1000:8.1f} ms (imports torch, loads the model)"
    )
    subprocess.run(["rm", "-rf", tmp], check=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
