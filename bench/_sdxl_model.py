"""What the kernel benches share: a small-but-not-trivial random SDXL checkpoint and their common options."""

from __future__ import annotations

import argparse
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def build_model(folder: str, width: int) -> tuple[str, str]:
    """A single-file SDXL checkpoint of UNet base width `width` → (checkpoint path, skeleton folder)."""
    from inference_worker.model_builders.demo_model import save_single_file
    from inference_worker.model_builders.small_pipelines import (
        build_pipeline,
        small_skeleton_files,
        write_files,
    )

    files = small_skeleton_files("sdxl", width=width)
    skeleton = write_files(os.path.join(folder, "skeleton"), files)
    path = os.path.join(folder, "bench-sdxl.safetensors")
    save_single_file(build_pipeline(skeleton, seed=0), path, "sdxl", files)
    return path, skeleton


def parse_args(doc: str | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--model-width", type=int, default=64, help="UNet base channels (multiple of 32)")
    return p.parse_args()


def base_task(path: str, size: int, steps: int) -> dict:
    """The plain text-to-image task every variant of a kernel bench builds on."""
    return {"base_model": {"name": "bench", "path": path}, "width": size, "height": size, "steps": steps,
            "sampler": "euler", "scheduler": "karras", "guidance_scale": 4.0, "positive": ["a lighthouse"],
            "negative": ["blurry"]}


def time_variants(variants: dict[str, dict], repeats: int, threads: int) -> dict[str, list[float]]:
    """Seconds per `generate` of each task in `variants` (name → task without id and seeds) on one worker.
    Rounds interleave the variants so drift hits all alike; the first round warms the model up and is not
    counted. A task the worker refuses raises with its error."""
    import time

    from inference_worker.process_client import WorkerClient, default_worker_cmd

    times: dict[str, list[float]] = {name: [] for name in variants}
    worker = WorkerClient(default_worker_cmd(), "--threads", str(threads), env={"OMP_NUM_THREADS": str(threads)})
    try:
        worker.call("health", timeout=120)
        for i in range(repeats + 1):
            for name, task in variants.items():
                began = time.perf_counter()
                answer = worker.call("generate", {**task, "task_id": f"{name}-{i}", "seeds": [100 + i]},
                                     timeout=1800)
                if "error" in answer:
                    raise RuntimeError(f"{name}: {answer['error']}")
                if i:
                    times[name].append(time.perf_counter() - began)
    finally:
        worker.close()
    return times
