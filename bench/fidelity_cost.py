"""What Fooocus's guidance extras cost: seconds per step with sharpness, adaptive CFG, ADM and FreeU on vs off.

Same random-weight SDXL model, size, sampler, seeds and thread count on both sides; runs are interleaved
(off, on, off, …) so drift hits both alike. "On" is sharpness 2 (Fooocus's default), adaptive CFG 7 under
guidance 9 (so it is active), ADM 1.5 / 0.8 until 0.3 and FreeU (v2, default b/s). Prints the two medians
and their ratio (target ≤ 1.10), and the anisotropic filter's and FreeU's own times at the sizes of a
1024×1024 SDXL image, which is what they add to each step of a full-size model whatever the UNet costs.

    .venv/bin/python bench/fidelity_cost.py [--size 256] [--steps 8] [--repeats 7] [--threads 1]
"""

from __future__ import annotations

import statistics
import tempfile
import time

from _sdxl_model import build_model, parse_args


def main() -> int:
    args = parse_args(__doc__)

    import msgspec
    import torch

    from contract.task import GenerateTask
    from inference_worker.diffusers_kernel.kernel import DiffusersKernel
    from inference_worker.diffusers_kernel.loading.freeu import apply_to_layer_input
    from inference_worker.diffusers_kernel.sampling.guidance import anisotropic_filter
    from inference_worker.kernel import KernelOptions
    from inference_worker.task_run import TaskRun

    torch.set_num_threads(args.threads)
    path, _ = build_model(tempfile.mkdtemp(prefix="remgo-bench-"), args.model_width)
    kernel = DiffusersKernel(KernelOptions(threads=args.threads))
    common = {
        "base_model": {"name": "bench", "path": path}, "width": args.size, "height": args.size, "seeds": [7],
        "steps": args.steps, "sampler": "dpmpp_2m", "scheduler": "karras", "guidance_scale": 9.0,
        "positive": ["a lighthouse on a cliff at dusk"], "negative": ["blurry"], "preview": {"enabled": False},
    }  # fmt: skip
    sides = {
        "off": {
            "sharpness": 0.0,
            "adaptive_cfg": 30.0,
            "adm": {"positive": 1.0, "negative": 1.0, "end": 0.0},
        },
        "on": {
            "sharpness": 2.0,
            "adaptive_cfg": 7.0,
            "adm": {"positive": 1.5, "negative": 0.8, "end": 0.3},
            "freeu": {"enabled": True},
        },
    }

    def per_step(side: str, i: int) -> float:
        task = msgspec.convert({**common, **sides[side], "task_id": f"{side}-{i}"}, GenerateTask)
        kernel.check(task)
        result = TaskRun(task, kernel, notify=lambda _p: None).run()
        return result.timings.sampling / args.steps  # prompt encoding + sampling, no decode

    per_step("off", -1)  # load the model and warm up both paths
    per_step("on", -1)
    times: dict[str, list[float]] = {"off": [], "on": []}
    for i in range(args.repeats):
        for side in ("off", "on"):
            times[side].append(per_step(side, i))
    off, on = statistics.median(times["off"]), statistics.median(times["on"])
    best_off, best_on = min(times["off"]), min(times["on"])
    print(
        f"model: random SDXL, UNet width {args.model_width}; image {args.size}×{args.size}; {args.steps} steps; "
        f"{args.threads} thread(s); median of {args.repeats}"
    )
    print(f"off  (sharpness 0, adaptive CFG idle, ADM neutral, no FreeU): {off * 1000:8.1f} ms/step")
    print(f"on   (sharpness 2, adaptive CFG 7 < 9, ADM 1.5/0.8/0.3, FreeU): {on * 1000:8.1f} ms/step")
    print(
        f"ratio on/off: {on / off:.3f} of medians, {best_on / best_off:.3f} of the fastest runs  (target ≤ 1.10)"
    )

    gen = torch.Generator().manual_seed(0)
    x, g = (torch.randn(1, 4, 128, 128, generator=gen) for _ in range(2))
    anisotropic_filter(x, g)
    runs = []
    for _ in range(3):
        start = time.perf_counter()
        anisotropic_filter(x, g)
        runs.append(time.perf_counter() - start)
    print(
        f"anisotropic filter alone at a 1024×1024 image's latent (128×128): {min(runs) * 1000:.1f} ms per step "
        f"on this CPU ({args.threads} thread(s))"
    )

    # SDXL's FreeU layers at 1024×1024, batch 2 (CFG): (backbone channels, skip channels, side).
    layers = [(1280, 1280, 32), (1280, 1280, 32), (1280, 640, 32), (1280, 640, 64)]
    layers += [(640, 640, 64), (640, 320, 64), (640, 320, 128)]
    inputs = [torch.randn(2, h + s, side, side, generator=gen) for h, s, side in layers]
    runs = []
    for _ in range(3):
        start = time.perf_counter()
        for (h, _s, _side), x in zip(layers, inputs, strict=True):
            apply_to_layer_input(x, h, 1.01, 0.99)
        runs.append(time.perf_counter() - start)
    print(
        f"FreeU alone on a 1024×1024 SDXL's seven decoder layers (batch 2): {min(runs) * 1000:.1f} ms per step "
        f"on this CPU ({args.threads} thread(s))"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
