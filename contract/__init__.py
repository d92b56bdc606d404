"""remgo's contract: the typed language the orchestrator and a worker speak. msgspec Structs only."""

from contract.events import Failure, FailureKind, ImageResult, Progress, Stage, TaskResult, Timings
from contract.request import GenerateRequest, LoraEntry, LoraTriple, MetadataScheme, Performance
from contract.task import (
    CONTRACT_VERSION,
    AdmScalers,
    FreeU,
    GenerateTask,
    LoraSpec,
    ModelRef,
    OutputFormat,
    PreviewSettings,
    RefinerSwapMethod,
    Sampler,
    Scheduler,
)

__all__ = [
    "CONTRACT_VERSION",
    "AdmScalers",
    "Failure",
    "FailureKind",
    "FreeU",
    "GenerateRequest",
    "GenerateTask",
    "ImageResult",
    "LoraEntry",
    "LoraSpec",
    "LoraTriple",
    "MetadataScheme",
    "ModelRef",
    "OutputFormat",
    "Performance",
    "PreviewSettings",
    "Progress",
    "RefinerSwapMethod",
    "Sampler",
    "Scheduler",
    "Stage",
    "TaskResult",
    "Timings",
]
