"""The Kernel protocol: what the RPC server asks of whatever actually makes images, and the registry.

A kernel is constructed once per worker process with `KernelOptions`. The server drives it one image at a
time: `check` (refuse what it cannot honour, before any work), `load` (models the task needs),
`generate_image` (one seed → one PIL image). Inside `generate_image` the kernel calls `steps.step(...)`
after every sampling step; that call raises `StopRequested` / `SkipRequested` when the orchestrator asked
to stop, so a kernel gets stop and skip for free as long as it lets those exceptions through.

Kernel modules are imported lazily (`resolve_kernel`) so the server answers `health` before torch loads.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Protocol, runtime_checkable

from msgspec import UNSET

from contract.events import FailureKind, Stage
from contract.task import GenerateTask

# Short names accepted by `--kernel`; anything else must be `module:Class`.
REGISTRY: dict[str, str] = {
    "diffusers": "inference_worker.diffusers_kernel.kernel:DiffusersKernel",
}
DEFAULT_KERNEL = "diffusers"


@dataclass(frozen=True)
class KernelOptions:
    device: str = "cpu"
    dtype: str | None = None  # None: float32 on CPU, float16 on CUDA
    threads: int | None = None
    # Empty: any absolute path is allowed (single-user local setups).
    model_roots: tuple[str, ...] = ()
    pipeline_cache: int = 1
    allow_pickle: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


class KernelError(Exception):
    """A refusal or failure the kernel can name: becomes a JSON-RPC error carrying a `Failure`."""

    def __init__(self, kind: FailureKind, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.field = field


class Interrupted(Exception):
    """Raised from `StepSink.step` to unwind a kernel when a stop or skip is pending."""


class StopRequested(Interrupted):
    pass


class SkipRequested(Interrupted):
    pass


class StepSink(Protocol):
    """Handed to `generate_image`; reports progress and delivers stop/skip."""

    def stage(self, stage: Stage) -> None:
        """Enter a stage (encoding_prompt, sampling, decoding …); also checks for stop/skip."""

    def step(self, step: int, steps_total: int, preview: bytes | None = None) -> None:
        """Sampling step `step` (1-based) is done. Raises StopRequested / SkipRequested."""

    def wants_preview(self, step: int) -> bool:
        """Whether a preview for this step would be used (so the kernel can skip making one)."""

    def warn(self, message: str) -> None:
        """A note carried to TaskResult.warnings."""


@runtime_checkable
class Kernel(Protocol):
    name: str

    def __init__(self, options: KernelOptions) -> None: ...

    def samplers(self) -> list[str]:
        """Sampler names this kernel runs (reported in health)."""

    def schedulers(self) -> list[str]:
        """Scheduler names this kernel runs."""

    def check(self, task: GenerateTask) -> None:
        """Raise KernelError(unsupported/bad_request/unknown_model, field=…) for anything it cannot honour."""

    def load(self, task: GenerateTask, steps: StepSink) -> None:
        """Make everything the task needs resident (cached between tasks where possible)."""

    def generate_image(self, task: GenerateTask, index: int, seed: int, steps: StepSink) -> Any:
        """Make image `index` of the task from `seed`; returns a PIL.Image."""

    def loaded_models(self) -> list[str]:
        """Names of the models currently resident."""

    def free_memory(self) -> None:
        """Drop caches after an out-of-memory error so the next task can run."""

    # Optional: `image_methods() -> Collection[str]`, the image inputs it runs: methods ("vary", "upscale",
    # "inpaint"), options ("upscale.upscaler", "inpaint.engine", "inpaint.a1111"), image prompt types ("prompt.PyraCanny",
    # "prompt.CPDS", …), "hires" (hires fix's second pass), "tiling" (AUTOMATIC1111's seamless tiling) and
    # "prompt_schedule" (a per-step conditioning schedule, contract.prompt_schedule) and "unet_timestep.interpolated"
    # (the UNet conditioned on fractional timesteps, contract.task.UnetTimestep), "variation" (variation seeds);
    # without it, text to image only (`check_image_method`). Health reports them as `image_inputs`.


def image_methods(kernel: Any) -> frozenset[str]:
    offered = getattr(kernel, "image_methods", None)
    return frozenset(offered()) if offered is not None else frozenset()


def check_image_method(kernel: Any, task: GenerateTask) -> None:
    """Refuse, before any work, a task whose image-input method or image prompt type the kernel does not run."""
    offered = image_methods(kernel)
    kernel_name = getattr(kernel, "name", "?")
    for i, prompt in enumerate(task.prompts()):
        if f"prompt.{prompt.type.value}" not in offered:
            runs = sorted(m.removeprefix("prompt.") for m in offered if m.startswith("prompt."))
            raise KernelError(
                FailureKind.unsupported,
                f"image prompt type {prompt.type.value!r} is not run by the {kernel_name} kernel; "
                f"it runs: {runs or 'no image prompts'}",
                f"image_prompts[{i}].type",
            )
    if task.hires_fix() is not None and "hires" not in offered:
        raise KernelError(FailureKind.unsupported, f"hires fix is not run by the {kernel_name} kernel", "hires")
    if task.schedule() is not None and "prompt_schedule" not in offered:
        raise KernelError(FailureKind.unsupported, f"prompt_schedule: the {kernel_name} kernel runs no per-step "
                          "conditioning schedule; send the prompts alone", "prompt_schedule")
    if task.variation_of(0) is not None and "variation" not in offered:
        raise KernelError(FailureKind.unsupported, f"variation: the {kernel_name} kernel runs no variation seeds; "
                          "send none", "variation")
    if task.interpolated_timesteps() and "unet_timestep.interpolated" not in offered:
        raise KernelError(FailureKind.unsupported, f"unet_timestep: the {kernel_name} kernel conditions the UNet "
                          "on the nearest whole timestep only; send unet_timestep nearest", "unet_timestep")
    if task.seamless() and "tiling" not in offered:
        raise KernelError(FailureKind.unsupported,
                          f"tiling: the {kernel_name} kernel runs no seamless tiling; send tiling false", "tiling")
    method = task.method()
    if method is None:
        return
    name = method.__struct_config__.tag
    if name not in offered:
        raise KernelError(
            FailureKind.unsupported,
            f"image_input method {name!r} is not run by the {kernel_name} kernel; "
            f"it runs: {sorted(offered) or 'text to image only'}",
            "image_input",
        )
    for option, part, what, instead in (
        ("upscale.upscaler", "upscaler", "super-resolution model", "send no upscaler for a Lanczos resize"),
        ("inpaint.engine", "engine", "Fooocus inpaint engine (head + patch)",
         "send no engine to inpaint with the checkpoint itself"),
        ("inpaint.a1111", "a1111", "AUTOMATIC1111-style inpainting", "leave a1111 unset for Fooocus's inpainting"),
    ):
        if option.startswith(f"{name}.") and getattr(method, part) not in (None, UNSET) and option not in offered:
            raise KernelError(FailureKind.unsupported,
                              f"image_input.{part}: the {kernel_name} kernel runs no {what}; {instead}",
                              f"image_input.{part}")


def resolve_kernel(spec: str) -> type:
    """`diffusers`, `package.module:Class` or `path/to/file.py:Class` → the class (imports the module)."""
    target = REGISTRY.get(spec, spec)
    module_name, sep, class_name = target.rpartition(":")
    if not sep or not module_name or not class_name:
        raise ValueError(f"--kernel must be one of {sorted(REGISTRY)} or 'module:Class', got {spec!r}")
    if module_name.endswith(".py"):  # a file path: works whatever the current directory is
        module = _import_file(module_name)
    else:
        module = importlib.import_module(module_name)
    try:
        return getattr(module, class_name)
    except AttributeError:
        raise ValueError(f"--kernel {spec!r}: module {module_name!r} has no {class_name!r}") from None


def _import_file(path: str) -> ModuleType:
    name = "remgo_kernel_" + os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None or not os.path.isfile(path):
        raise ValueError(f"--kernel: no Python file at {path!r}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def is_out_of_memory(exc: BaseException) -> bool:
    """torch.cuda.OutOfMemoryError (and friends) recognised without importing torch."""
    if isinstance(exc, MemoryError):
        return True
    if any(cls.__name__ == "OutOfMemoryError" for cls in type(exc).__mro__):
        return True
    return "out of memory" in str(exc).lower()
