"""One task in flight: drives the kernel image by image, reports progress, applies stop and skip.

`TaskRun` is the `StepSink` the kernel reports to. Stop and skip are requested from the server's reader
thread and take effect at the kernel's next `step`/`stage` call, by raising inside the kernel.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from contract.events import ImageResult, Progress, Stage, TaskResult, Timings
from contract.rpc import StopMode
from contract.task import GenerateTask
from inference_worker.encode import encode_image
from inference_worker.kernel import Kernel, SkipRequested, StopRequested, check_image_method

# Which Timings bucket the time spent in a stage goes to.
_BUCKET = {
    Stage.loading: "load",
    Stage.encoding_prompt: "sampling",
    Stage.sampling: "sampling",
    Stage.refining: "sampling",
    Stage.decoding: "decode",
    Stage.saving: "encode",
}


class TaskRun:
    def __init__(self, task: GenerateTask, kernel: Kernel | None, notify: Callable[[Progress], None]) -> None:
        self.task = task
        self.kernel = kernel
        self._notify = notify
        self._lock = threading.Lock()
        self._stop = False
        self._skip_index: int | None = None
        self.image_index = 0
        self.latest: Progress | None = None
        self.images: list[ImageResult] = []
        self.skipped: list[int] = []
        self.warnings: list[str] = []
        self._stage = Stage.loading
        self._stage_since = time.perf_counter()
        self._step = 0
        self._buckets = {"load": 0.0, "sampling": 0.0, "decode": 0.0, "encode": 0.0}
        self._started = time.perf_counter()

    # ----- requests from the reader thread ----------------------------------------------------

    def request_stop(self, mode: StopMode) -> None:
        with self._lock:
            if mode is StopMode.stop:
                self._stop = True
            else:
                self._skip_index = self.image_index

    # ----- StepSink -----------------------------------------------------------------------------

    def _check(self) -> None:
        with self._lock:
            if self._stop:
                raise StopRequested()
            if self._skip_index == self.image_index:
                raise SkipRequested()

    def _publish(self, preview: bytes | None = None) -> None:
        progress = Progress(
            task_id=self.task.task_id,
            image_index=self.image_index,
            images_total=len(self.task.seeds),
            step=self._step,
            steps_total=self.task.steps_total(),
            stage=self._stage,
            preview=preview,
        )
        self.latest = progress
        self._notify(progress)

    def _enter(self, stage: Stage) -> None:
        now = time.perf_counter()
        self._buckets[_BUCKET[self._stage]] += now - self._stage_since
        self._stage, self._stage_since = stage, now

    def stage(self, stage: Stage) -> None:
        if stage is not self._stage:
            self._enter(stage)
            self._publish()
        self._check()

    def step(self, step: int, steps_total: int, preview: bytes | None = None) -> None:
        if self._stage not in (Stage.sampling, Stage.refining):
            self._enter(Stage.sampling)
        # Kernels whose schedule has more entries than the task's steps report on the task's scale (every pass).
        total = self.task.steps_total()
        self._step = min(total, max(1, round(step * total / max(1, steps_total))))
        self._publish(preview)
        self._check()

    def wants_preview(self, step: int) -> bool:
        p = self.task.preview
        return p.enabled and (step % p.every_n_steps == 0 or step >= self.task.steps_total())

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)

    # ----- the run ------------------------------------------------------------------------------

    def result(self, stopped: bool = False) -> TaskResult:
        self._enter(self._stage)
        total = time.perf_counter() - self._started
        return TaskResult(
            task_id=self.task.task_id,
            images=list(self.images),
            stopped=stopped,
            skipped=list(self.skipped),
            timings=Timings(total=total, **self._buckets),
            warnings=list(self.warnings),
        )

    def run(self) -> TaskResult:
        """Every image of the task; raises what the kernel raises (see `result()` for the partial)."""
        task, kernel = self.task, self.kernel
        assert kernel is not None, "TaskRun.kernel is set before run()"
        check_image_method(kernel, task)  # before any loading
        self._publish()
        try:
            kernel.load(task, self)
        except StopRequested:
            return self.result(stopped=True)
        except SkipRequested:
            pass  # a skip while loading targets image 0, which has not started: applied below
        for index, seed in enumerate(task.seeds):
            with self._lock:
                self.image_index = index
                self._step = 0
            try:
                self.stage(Stage.encoding_prompt)
                image = kernel.generate_image(task, index, seed, self)
                with self._lock:  # a skip that arrived after the last step still drops this image
                    if self._skip_index == index:
                        raise SkipRequested()
            except SkipRequested:
                self.skipped.append(index)
                continue
            except StopRequested:
                return self.result(stopped=True)
            self._step = task.steps_total()
            # The image is finished: a stop from here on still returns it.
            self._enter(Stage.saving)
            self._publish()
            metadata = task.image_metadata[index] if task.image_metadata else {}
            data = encode_image(image, task.output_format, metadata)
            self.images.append(
                ImageResult(
                    index=index,
                    seed=seed,
                    format=task.output_format,
                    width=image.width,
                    height=image.height,
                    data=data,
                )
            )
            if self._stop:
                return self.result(stopped=True)
        return self.result(stopped=False)
