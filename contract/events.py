"""What a worker reports back: progress while a task runs, then a TaskResult or a typed failure."""

from __future__ import annotations

import enum

import msgspec

from contract.task import CONTRACT_VERSION, OutputFormat


class Stage(str, enum.Enum):
    loading = "loading"  # opening models, LoRAs, building the pipeline
    encoding_prompt = "encoding_prompt"
    sampling = "sampling"
    refining = "refining"  # sampling steps run by the refiner model
    decoding = "decoding"  # VAE decode
    saving = "saving"  # image encoding (png/jpeg/webp + metadata)


class Progress(msgspec.Struct, frozen=True, kw_only=True):
    """One step of one image. `step` counts 1 … steps_total within the current image."""

    task_id: str
    image_index: int
    images_total: int
    step: int
    steps_total: int
    stage: Stage = Stage.sampling
    preview: bytes | None = None  # JPEG, base64 in JSON
    contract_version: int = CONTRACT_VERSION


class ImageResult(msgspec.Struct, frozen=True, kw_only=True):
    index: int
    seed: int
    format: OutputFormat
    width: int
    height: int
    data: bytes  # the encoded file, metadata already embedded; base64 in JSON
    # With attachments on (the `framing` method), the file travels as raw bytes after the response's frame:
    # `attachment` is its place among them and `data` is empty. None: `data` holds the file.
    attachment: int | None = None


class Timings(msgspec.Struct, frozen=True, kw_only=True):
    """Seconds spent in the worker, for overhead accounting on the orchestrator side."""

    load: float = 0.0
    sampling: float = 0.0
    decode: float = 0.0
    encode: float = 0.0
    total: float = 0.0


class TaskResult(msgspec.Struct, frozen=True, kw_only=True):
    """The answer to `generate`. `stopped` marks a task ended early by `stop`; `skipped` lists dropped images."""

    task_id: str
    images: list[ImageResult]
    stopped: bool = False
    skipped: list[int] = []
    timings: Timings = Timings()
    warnings: list[str] = []
    contract_version: int = CONTRACT_VERSION


class FailureKind(str, enum.Enum):
    bad_request = "bad_request"
    unsupported = "unsupported"  # a knob this worker cannot honour
    unknown_model = "unknown_model"
    busy = "busy"
    cancelled = "cancelled"
    out_of_memory = "out_of_memory"
    version_mismatch = "version_mismatch"
    unknown_task = "unknown_task"
    internal = "internal"


class Failure(msgspec.Struct, frozen=True, kw_only=True):
    """Carried in a JSON-RPC error's `data`: what failed, which field if one is to blame."""

    kind: FailureKind
    message: str
    field: str | None = None
    task_id: str | None = None
    # Images finished before the failure (e.g. cancelled mid-task) are not lost.
    partial: TaskResult | None = None
