"""Request → GenerateTasks: every default expanded here, nowhere else."""

from orchestrator.normalize.errors import NormalizeError
from orchestrator.normalize.job import NormalizedJob, normalize

__all__ = ["NormalizeError", "NormalizedJob", "normalize"]
