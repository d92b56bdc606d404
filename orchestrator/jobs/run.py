"""A job while it runs: which images wait, which run where, retries, and progress over the whole job.

The dispatcher hands out one image at a time (a one-seed slice of the normalized task), so idle workers
share a job image by image and a retry or a skip concerns exactly one image. Image i keeps the seed the
normalizer gave it, whichever worker makes it.
"""

from __future__ import annotations

import collections
import itertools
import logging
from dataclasses import dataclass, field

import msgspec

from contract.events import Progress
from contract.task import GenerateTask, PreviewSettings
from orchestrator.jobs.model import JobProgress
from orchestrator.jobs.store import Job, JobError
from orchestrator.pool.handle import WorkerHandle

log = logging.getLogger("remgo.dispatcher")
# A task whose worker died is retried this many times (on another worker when there is one).
MAX_RETRIES = 1


@dataclass(eq=False)
class Unit:
    """One image of a job, sent to one worker as one task."""

    task: GenerateTask
    index: int
    worker: WorkerHandle
    stop_sent: str | None = None  # "stop" / "skip" once asked


@dataclass(eq=False)
class JobRun:
    job: Job
    pending: collections.deque[int] = field(default_factory=collections.deque)
    units: dict[str, Unit] = field(default_factory=dict)
    finished: set[int] = field(default_factory=set)
    retries: dict[int, int] = field(default_factory=dict)
    avoid: dict[int, set[str]] = field(default_factory=lambda: collections.defaultdict(set))
    totals: list[int] = field(default_factory=list)
    steps: dict[int, int] = field(default_factory=dict)
    cancel_requested: bool = False
    failure: JobError | None = None
    latest: JobProgress | None = None
    _serial: itertools.count = field(default_factory=itertools.count)

    @classmethod
    def start(cls, job: Job) -> JobRun:
        run = cls(job=job)
        done = job.finished_indices()
        run.finished = set(done)
        run.pending.extend(i for i in range(job.images_total) if i not in done)
        run.totals = [job.normalized.steps_of(i) for i in range(job.images_total)]
        run.steps = {i: run.totals[i] for i in done}
        return run

    @property
    def over(self) -> bool:
        return not self.pending and not self.units

    @property
    def model(self) -> str:
        return self.job.normalized.tasks[0].base_model.name

    def unit_task(self, index: int, preview: PreviewSettings) -> GenerateTask:
        """The one-image task for job image `index` (a fresh task id for every attempt)."""
        task, offset = self.job.normalized.locate(index)
        metadata = [task.image_metadata[offset]] if task.image_metadata else []
        if not task.preview.enabled:
            preview = msgspec.structs.replace(preview, enabled=False)
        return task.one_image(offset, task_id=f"{task.task_id}.i{index}.{next(self._serial)}",
                              image_metadata=metadata, preview=preview)

    def image_done(self, index: int) -> None:
        self.finished.add(index)
        self.steps[index] = self.totals[index]

    def image_reset(self, index: int) -> None:
        self.steps.pop(index, None)

    def fail(self, error: JobError) -> None:
        """The first failure wins; nothing new starts, images that finished are kept."""
        if self.failure is None:
            self.failure = error
        self.pending.clear()

    def output_failed(self, index: int, what: str, exc: Exception) -> None:
        """Image `index` could not be saved, indexed or recorded: the job fails, saying which and why."""
        log.error("job %s image %d could not be %s: %s", self.job.id, index, what, exc)
        self.fail(JobError(kind="output", message=f"image {index} could not be {what}: {exc}"))

    def progress(self, unit: Unit | None = None, report: Progress | None = None) -> JobProgress:
        if unit is not None and report is not None:
            i = unit.index
            self.totals[i] = max(1, report.steps_total)
            self.steps[i] = min(report.step, self.totals[i])
        self.latest = JobProgress(
            step=sum(self.steps.values()),
            total=sum(self.totals),
            images_done=len(self.finished),
            images_total=self.job.images_total,
            image_index=unit.index if unit is not None else None,
            image_step=report.step if report is not None else None,
            image_steps_total=report.steps_total if report is not None else None,
            stage=report.stage.value if report is not None else None,
            worker=unit.worker.name if unit is not None else None,
            preview=report.preview if report is not None else None,
        )
        return self.latest


def stored_progress(job: Job) -> JobProgress:
    """Progress of a job that is not running here, from its stored images."""
    totals = [job.normalized.steps_of(i) for i in range(job.images_total)]
    done = job.finished_indices()
    return JobProgress(
        step=sum(totals[i] for i in done if i < len(totals)),
        total=sum(totals),
        images_done=len(done),
        images_total=job.images_total,
    )
