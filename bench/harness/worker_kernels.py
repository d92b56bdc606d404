"""Small kernels for testing and benching the worker protocol and the orchestrator without torch.

Run one with `python -m inference_worker --kernel bench/harness/worker_kernels.py:ColorKernel` (a file path
works from any directory; `bench.harness.worker_kernels:ColorKernel` works from the repository root).

- ColorKernel: a deterministic image whose colours derive from the seed and every other sampling field;
  sleeps `REMGO_TEST_STEP_DELAY` seconds (default 0) per step, reports every step, honours stop/skip.
  A prompt holding `HOLD` (hold-until-stopped) never finishes an image: it keeps reporting its
  second-to-last step until it is stopped or skipped, so a test can act on a running job without racing it;
  with `HOLD_AFTER_FIRST` the first image of each task finishes and the later ones hold.
- PrintingKernel: ColorKernel that also writes to stdout (print and raw fd 1) while generating.
- RaisingKernel: fails with a RuntimeError at the first step of image REMGO_TEST_FAIL_FROM_IMAGE (default 0).
- OomKernel: fails with an out-of-memory error (as torch.cuda.OutOfMemoryError would).
- HangingKernel: reports one step, then never reports again (until the process ends).
- SlowStartKernel: ColorKernel whose construction takes REMGO_TEST_KERNEL_INIT_DELAY seconds.
- HangOnceKernel: on the first attempt at each image it reports one step, then hangs; every later
  attempt runs normally. Attempts are remembered as marker files in REMGO_TEST_MARK_DIR, so a
  respawned worker (a new process) knows the image was tried.
- SelectiveFailureKernel: raises, or runs out of memory, only for tasks whose prompt asks for it.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
import time
from pathlib import Path

import msgspec
from PIL import Image

from contract.events import Stage
from contract.task import GenerateTask, Sampler, Scheduler

WORKER_KERNELS = os.path.abspath(__file__)  # for `--kernel {WORKER_KERNELS}:ColorKernel`

HOLD = "hold-until-stopped"
HOLD_AFTER_FIRST = "hold-after-the-first-image"


def _step_delay() -> float:
    return float(os.environ.get("REMGO_TEST_STEP_DELAY", "0") or 0)


def _digest(task: GenerateTask, seed: int) -> bytes:
    # Everything that would change a real image, nothing that would not (task id, metadata, format).
    fields = msgspec.to_builtins(task)
    for key in ("task_id", "seeds", "image_metadata", "output_format", "preview", "contract_version"):
        fields.pop(key)
    fields["seed"] = seed
    return hashlib.sha256(msgspec.json.encode(fields, order="sorted")).digest()


def color_image(task: GenerateTask, seed: int) -> Image.Image:
    d = _digest(task, seed)
    start = Image.new("RGB", (task.width, task.height), tuple(d[0:3]))
    end = Image.new("RGB", (task.width, task.height), tuple(d[3:6]))
    mask = Image.linear_gradient("L").rotate(d[6] % 4 * 90).resize((task.width, task.height))
    return Image.composite(end, start, mask)


def _tiny_jpeg(image: Image.Image, max_side: int) -> bytes:
    thumb = image.copy()
    thumb.thumbnail((max_side, max_side))
    buf = io.BytesIO()
    thumb.save(buf, format="JPEG", quality=60)
    return buf.getvalue()


class ColorKernel:
    name = "color"

    def __init__(self, options) -> None:
        self.options = options
        self._loaded: list[str] = []

    def samplers(self) -> list[str]:
        return [s.value for s in Sampler]

    def schedulers(self) -> list[str]:
        return [s.value for s in Scheduler]

    def image_methods(self) -> frozenset[str]:
        # The image is task.width × task.height for each; the options and image prompts (their images, types,
        # stops, weights and models are all in the digest) only change its colours; so do `unet_timestep` and `variation`.
        return frozenset({"vary", "upscale", "inpaint", "upscale.upscaler", "inpaint.engine", "inpaint.a1111",
                          "prompt.ImagePrompt", "prompt.FaceSwap", "prompt.PyraCanny", "prompt.CPDS",
                          "unet_timestep.interpolated", "variation"})

    def check(self, task: GenerateTask) -> None:
        return None

    def load(self, task: GenerateTask, steps) -> None:
        self._loaded = [task.base_model.name]

    def loaded_models(self) -> list[str]:
        return list(self._loaded)

    def free_memory(self) -> None:
        self._loaded = []

    def on_step(self, task: GenerateTask, index: int, step: int) -> None:
        """Hook for subclasses, called before each step is reported."""

    def generate_image(self, task: GenerateTask, index: int, seed: int, steps) -> Image.Image:
        image = color_image(task, seed)
        delay = _step_delay()
        hold = any(HOLD in chunk or (index > 0 and HOLD_AFTER_FIRST in chunk) for chunk in task.positive)
        steps.stage(Stage.sampling)
        step = 0
        while step < task.steps:
            if hold and step == task.steps - 1:
                time.sleep(max(delay, 0.02))  # steps.step raises once the task is stopped or skipped
            else:
                step += 1
                if delay:
                    time.sleep(delay)
            self.on_step(task, index, step)
            preview = _tiny_jpeg(image, min(32, task.preview.max_side)) if steps.wants_preview(step) else None
            steps.step(step, task.steps, preview)
        steps.stage(Stage.decoding)
        return image


class PrintingKernel(ColorKernel):
    name = "printing"

    def on_step(self, task: GenerateTask, index: int, step: int) -> None:
        print(f"step {step} of image {index}: this line must not reach the protocol stream")
        os.write(1, b'{"jsonrpc": "2.0", "id": 1, "result": "forged by a raw write to fd 1"}\n')


class RaisingKernel(ColorKernel):
    name = "raising"

    def on_step(self, task: GenerateTask, index: int, step: int) -> None:
        if index >= int(os.environ.get("REMGO_TEST_FAIL_FROM_IMAGE", "0")):
            raise RuntimeError(f"kernel exploded at step {step} of image {index}")


class OutOfMemoryError(RuntimeError):
    """Named like torch.cuda.OutOfMemoryError, which the worker recognises by name."""


class OomKernel(ColorKernel):
    name = "oom"

    def __init__(self, options) -> None:
        super().__init__(options)
        self.freed = 0

    def on_step(self, task: GenerateTask, index: int, step: int) -> None:
        raise OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    def free_memory(self) -> None:
        self.freed += 1
        super().free_memory()


class HangingKernel(ColorKernel):
    name = "hanging"

    def on_step(self, task: GenerateTask, index: int, step: int) -> None:
        if step > 1:
            threading.Event().wait()  # never set: the kernel is stuck, stop cannot reach it


class SlowStartKernel(ColorKernel):
    """Takes REMGO_TEST_KERNEL_INIT_DELAY seconds (default 3) to construct, like a kernel importing torch."""

    name = "slow-start"

    def __init__(self, options) -> None:
        time.sleep(float(os.environ.get("REMGO_TEST_KERNEL_INIT_DELAY", "3")))
        super().__init__(options)


class HangOnceKernel(ColorKernel):
    name = "hang-once"

    def on_step(self, task, index: int, step: int) -> None:
        if step < 2:
            return
        # task ids are "<job task>.i<image>.<attempt>": the image is the part before the attempt number.
        image = task.task_id.rsplit(".", 1)[0]
        marker = Path(os.environ["REMGO_TEST_MARK_DIR"]) / image
        try:
            marker.touch(exist_ok=False)
        except FileExistsError:
            return  # tried before: this attempt runs through
        threading.Event().wait()


class SelectiveFailureKernel(ColorKernel):
    """Fails the tasks whose prompt says so: `[raise]` → a RuntimeError, `[oom]` → out of memory (named
    like torch's error, which the worker recognises by name). Every other task succeeds."""

    name = "selective-failure"

    def on_step(self, task, index: int, step: int) -> None:
        prompt = " ".join(task.positive)
        if "[raise]" in prompt:
            raise RuntimeError(f"kernel exploded at step {step}")
        if "[oom]" in prompt:
            raise OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
