"""Image-input costs: Vary and Upscale against plain text to image at the same size and steps, through a real
worker; and the memory of an Upscale's VAE encode + decode at 2× of 1152×896 with tiling on and off.

Times: one worker, runs interleaved (txt2img, vary, upscale, txt2img, …) so drift hits all alike; medians and
the ratios to txt2img. Vary's input is already the output size (shape ceil 1024…2048 keeps it), Upscale 2×
starts from half the size; both run the same steps at their denoise (0.5, 0.382), as Fooocus does, so the
overhead is decoding the input file, encoding it with the VAE and the noise. Memory: each condition in a fresh
process (peak RSS, which is what a CPU machine runs out of), encoding and decoding a 2304×1792 image.

    .venv/bin/python bench/image_inputs.py [--size 1024] [--steps 4] [--repeats 3] [--threads 1]
"""

from __future__ import annotations

import hashlib
import io
import json
import statistics
import subprocess
import sys
import tempfile

import msgspec
from _sdxl_model import (  # puts the repository on sys.path
    REPO,
    base_task,
    build_model,
    parse_args,
    time_variants,
)

from contract.image_input import InputImage


def _png(width: int, height: int, seed: int) -> InputImage:
    import numpy as np
    from PIL import Image

    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "PNG")
    data = out.getvalue()
    return InputImage(data=data, sha256=hashlib.sha256(data).hexdigest(), width=width, height=height)


def _memory(model: str, skeleton: str, tiled: bool) -> float:
    """Peak RSS (MiB) of a fresh process that encodes and decodes 2304×1792 with the model's VAE."""
    code = f"""
import resource, sys, torch, numpy as np
sys.path.insert(0, {REPO!r})
torch.set_num_threads(1)
from diffusers import StableDiffusionXLPipeline
from inference_worker.diffusers_kernel.image_input import vae_io
vae = StableDiffusionXLPipeline.from_single_file({model!r}, config={skeleton!r}).vae
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
pixels = np.random.default_rng(0).integers(0, 256, (1792, 2304, 3), dtype=np.uint8)
vae_io.decode(vae, vae_io.encode(vae, pixels, tiled={tiled}), tiled={tiled})
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=1800,
                          env={"HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    return float(done.stdout.strip().splitlines()[-1])


def main() -> int:
    args = parse_args(__doc__)
    tmp = tempfile.mkdtemp(prefix="remgo-bench-")
    path, skeleton = build_model(tmp, args.model_width)
    size, half = args.size, args.size // 2
    base = base_task(path, size, args.steps)
    inputs = {
        "txt2img": None,
        "vary": msgspec.to_builtins({"method": "vary", "image": _png(size, size, 1), "denoise": 0.5}),
        "upscale": msgspec.to_builtins({"method": "upscale", "image": _png(half, half, 2), "denoise": 0.382}),
    }
    times = time_variants({name: base if method is None else {**base, "image_input": method}
                           for name, method in inputs.items()}, args.repeats, args.threads)
    plain = statistics.median(times["txt2img"])
    print(f"{size}×{size}, {args.steps} steps, UNet width {args.model_width}, {args.threads} thread(s), "
          f"median of {args.repeats}")
    print(f"{'':10}  {'seconds':>8}  {'ratio to txt2img':>16}")
    for name, found in times.items():
        print(f"{name:10}  {statistics.median(found):8.2f}  {statistics.median(found) / plain:16.2f}")
    untiled, tiled = _memory(path, skeleton, False), _memory(path, skeleton, True)
    print(f"Upscale 2× of 1152×896 (2304×1792), VAE encode + decode, peak RSS growth: untiled {untiled:.0f} MiB, "
          f"tiled {tiled:.0f} MiB ({tiled / untiled:.2f}×)")
    print(json.dumps({"ratios": {k: statistics.median(v) / plain for k, v in times.items()},
                      "memory_mib": {"untiled": untiled, "tiled": tiled}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
