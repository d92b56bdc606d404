"""Image-prompt cost per step: text to image alone and with one prompt of each type, through a real worker, at
the same size and steps; medians and the ratio to text alone. The control model is a Control-LoRA of the bench
UNet's shape (so it costs what Fooocus's does relative to its UNet: one more encoder half per step); the IP-Adapter
a "plus" one with a small CLIP-vision encoder (its per-step cost is the extra attention over the image tokens;
encoding the image is once per task). Runs are interleaved so drift hits all alike; the first round warms up.

    .venv/bin/python bench/image_prompts.py [--size 512] [--steps 8] [--repeats 3] [--threads 1]
"""

from __future__ import annotations

import hashlib
import io
import os
import statistics
import sys
import tempfile

import msgspec
from _sdxl_model import base_task, build_model, parse_args, time_variants  # puts the repository on sys.path

from contract.image_input import InputImage

ENCODER_WIDTH, TOKENS = 32, 4


def _picture() -> InputImage:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (256, 256), (30, 30, 30))
    ImageDraw.Draw(image).ellipse((60, 60, 196, 196), fill=(230, 200, 40))
    out = io.BytesIO()
    image.save(out, "PNG")
    data = out.getvalue()
    return InputImage(data=data, sha256=hashlib.sha256(data).hexdigest(), width=256, height=256)


def _model_files(folder: str, skeleton: str) -> dict[str, str]:
    from safetensors.torch import save_file

    from inference_worker.model_builders.control_models import control_lora
    from inference_worker.model_builders.ip_adapter_files import clip_vision_file, ip_adapter_file
    from inference_worker.model_builders.small_pipelines import build_pipeline

    unet = build_pipeline(skeleton, seed=0).unet
    files = {"control": os.path.join(folder, "control-lora.safetensors"),
             "adapter": os.path.join(folder, "ip-adapter-plus.bin"),
             "encoder": os.path.join(folder, "clip-vision.safetensors")}
    save_file(control_lora(unet, seed=1)[0], files["control"])
    ip_adapter_file(files["adapter"], unet, ENCODER_WIDTH, tokens=TOKENS, seed=4)
    clip_vision_file(files["encoder"], seed=3, width=ENCODER_WIDTH)
    return files


def main() -> int:
    args = parse_args(__doc__)
    tmp = tempfile.mkdtemp(prefix="remgo-bench-")
    path, skeleton = build_model(tmp, args.model_width)
    files = _model_files(tmp, skeleton)
    image = _picture()

    def prompt(kind: str) -> dict:
        ref = {"name": kind, "path": files["control" if kind in ("PyraCanny", "CPDS") else "adapter"]}
        extra = {} if kind in ("PyraCanny", "CPDS") else {"image_encoder": {"name": "enc", "path": files["encoder"]}}
        return msgspec.to_builtins({"type": kind, "image": image, "stop": 1.0, "weight": 1.0, "model": ref, **extra})

    base = base_task(path, args.size, args.steps)
    kinds = ["text", "PyraCanny", "CPDS", "ImagePrompt", "FaceSwap"]
    # stop 1: each prompt acts on every step, as the per-step figure needs
    times = time_variants({kind: base if kind == "text" else {**base, "image_prompts": [prompt(kind)]}
                           for kind in kinds}, args.repeats, args.threads)
    plain = statistics.median(times["text"])
    print(f"{args.size}×{args.size}, {args.steps} steps, UNet width {args.model_width}, {args.threads} thread(s), "
          f"one prompt acting on every step, median of {args.repeats}")
    print(f"{'':12}  {'seconds':>8}  {'per step':>9}  {'ratio to text':>13}")
    for kind, found in times.items():
        median = statistics.median(found)
        print(f"{kind:12}  {median:8.2f}  {median / args.steps:9.3f}  {median / plain:13.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
