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
