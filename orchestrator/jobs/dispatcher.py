"""Which image runs on which worker: queue order, splitting, affinity, retries, cancel and skip.

Everything here runs on the event loop; a sqlite write is short, so the store is called directly. Saving
an image and adding its history row run on the ImageWriter's thread instead (image_writer.py).
Whenever a job is submitted or a worker frees up, `_assign` gives every idle worker the next image of the
most urgent job (priority, then first come): a running job's remaining images before a new job. A worker
that already ran the job's model is preferred. Images are saved and indexed the moment they arrive.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import msgspec

from contract.events import FailureKind, Progress, TaskResult
from contract.rpc import BUSY, StopMode
from contract.task import PreviewSettings
from orchestrator.jobs import terminal_log as job_log
from orchestrator.jobs.events import EventHub
from orchestrator.jobs.image_writer import ImageWriter, OutputFailed
from orchestrator.jobs.input_bytes import InputUnreadable, with_input_bytes
from orchestrator.jobs.metrics import DispatchStats
from orchestrator.jobs.model import TERMINAL_EVENTS, ActionResult, JobEvent, JobProgress, image_view, job_view
from orchestrator.jobs.run import MAX_RETRIES, JobRun, Unit, stored_progress
from orchestrator.jobs.store import TERMINAL, ImageRecord, Job, JobError, JobStatus, JobStore
from orchestrator.jobs.webhooks import WebhookSender
from orchestrator.pool.handle import WorkerHandle, WorkerState
from orchestrator.pool.rpc_client import RpcCallError, WorkerGone
from orchestrator.pool.worker_pool import WorkerPool
from orchestrator.settings import Settings

log = logging.getLogger("remgo.dispatcher")
_enc = msgspec.json.Encoder()
_TERMINAL_EVENT = {JobStatus.succeeded: "finished", JobStatus.failed: "failed", JobStatus.cancelled: "cancelled"}


class QueueFull(Exception):
    def __init__(self, retry_after: int, limit: int) -> None:
        super().__init__(f"the queue holds its limit of {limit} jobs; retry in {retry_after} s")
        self.retry_after = retry_after


class Dispatcher:
    def __init__(self, *, settings: Settings, store: JobStore, pool: WorkerPool, events: EventHub,
                 outputs: Any, history: Any, webhooks: WebhookSender, inputs: Any = None) -> None:
        self.settings = settings
        self.store = store
        self.pool = pool
        self.events = events
        self.outputs = outputs
        self.history = history
        self.webhooks = webhooks
        self.inputs = inputs  # the input store (input images' bytes by sha256)
        self.stats = DispatchStats()
        self.runs: dict[str, JobRun] = {}
        self._units: dict[str, tuple[JobRun, Unit]] = {}
        self._announced: set[str] = set()  # running jobs whose start is logged
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._stopping = False
        self.writer = ImageWriter(outputs, history)
        self._preview = PreviewSettings(
            enabled=settings.preview_enabled, every_n_steps=settings.preview_every_n_steps,
            max_side=settings.preview_max_side, quality=settings.preview_quality,
        )
        pool.on_progress = self.on_progress
        pool.on_change = self.wake

    # ----- lifecycle --------------------------------------------------------------------------

    def start(self) -> list[str]:
        """Requeue what a previous run left running and start dispatching; returns the resumed ids."""
        resumed = self.store.resume()
        if resumed:
            log.info("resuming %d job(s) that were running: %s", len(resumed), ", ".join(resumed))
        self._stopping = False
        self._loop_task = asyncio.create_task(self._loop(), name="dispatcher")
        self.wake()
        return resumed

    async def stop(self) -> None:
        """Stop handing out work; jobs still running stay `running` in the store and resume next start."""
        self._stopping = True
        if self._loop_task is not None:
            self._loop_task.cancel()
            await asyncio.gather(self._loop_task, return_exceptions=True)

    async def drain_units(self, timeout: float) -> None:
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)

    def wake(self) -> None:
        self._wake.set()

    async def _loop(self) -> None:
        while not self._stopping:
            await self._wake.wait()
            self._wake.clear()
            try:
                self._assign()
            except Exception:  # a bug in one pass must not end dispatching
                log.exception("dispatch pass failed")

    # ----- submitting and reading -------------------------------------------------------------

    def submit(self, job: Job) -> tuple[Job, bool]:
        """Queue a job (QueueFull when at the limit); an id seen before returns that job unchanged."""
        existing = self.store.get(job.id)
        if existing is not None:
            return existing, False
        depth = self.store.queue_depth()
        if depth >= self.settings.queue_limit:
            raise QueueFull(self.stats.retry_after(depth, self.settings.queue_limit, len(self.pool.workers)),
                            self.settings.queue_limit)
        stored, created = self.store.add(job)
        if created:
            self.stats.jobs_submitted += 1
            position = self.store.position(stored)
            job_log.submitted(stored, position)
            self.events.publish(JobEvent(type="queued", job_id=stored.id, status=stored.status,
                                         position=position))
            self.wake()
        return stored, created

    def progress_of(self, job: Job) -> JobProgress:
        run = self.runs.get(job.id)
        if run is not None and job.status is JobStatus.running:
            return run.latest or run.progress()
        return stored_progress(job)

    def view(self, job: Job, read_image: Any = None) -> Any:
        return job_view(job, position=self.store.position(job), progress=self.progress_of(job),
                        read_image=read_image)

    async def wait_done(self, job_id: str, timeout: float | None = None) -> Job | None:
        """The job once it is terminal (or as it is after `timeout`); None for an unknown id."""
        with self.events.subscribe([job_id]) as sub:
            job = self.store.get(job_id)
            loop = asyncio.get_running_loop()
            deadline = None if timeout is None else loop.time() + timeout
            while job is not None and job.status not in TERMINAL:
                left = None if deadline is None else deadline - loop.time()
                if left is not None and left <= 0:
                    break
                item = await sub.get(timeout=min(left, 5.0) if left is not None else 5.0)
                if item is None or item.event.type in TERMINAL_EVENTS:
                    job = self.store.get(job_id)
            return job

    # ----- cancel and skip --------------------------------------------------------------------

    async def cancel(self, job_id: str, wait: float = 10.0) -> ActionResult | None:
        job = self.store.get(job_id)
        if job is None:
            return None
        if job.status in TERMINAL:
            return ActionResult(id=job_id, status=job.status, changed=False,
                                message=f"the job already {job.status.value}; nothing to cancel")
        run = self.runs.get(job_id)
        if run is None:  # still queued: leave the queue
            self._finish(job_id, JobStatus.cancelled, None, started=None)
            return ActionResult(id=job_id, status=JobStatus.cancelled, changed=True,
                                message="removed from the queue")
        run.cancel_requested = True
        run.pending.clear()
        if run.over:
            self._maybe_finish(run)
        else:
            await asyncio.gather(*(self._stop_unit(run, u, StopMode.stop) for u in list(run.units.values())))
        done = await self.wait_done(job_id, timeout=wait)
        status = done.status if done is not None else JobStatus.running
        message = "stopped" if status is JobStatus.cancelled else f"stop requested; the job is {status.value}"
        return ActionResult(id=job_id, status=status, changed=True, message=message)

    async def skip(self, job_id: str) -> ActionResult | None:
        job = self.store.get(job_id)
        if job is None:
            return None
        run = self.runs.get(job_id)
        if run is None or not run.units:
            return ActionResult(id=job_id, status=job.status, changed=False,
                                message=f"the job is {job.status.value}: only an image being made can be skipped")
        units = list(run.units.values())
        await asyncio.gather(*(self._stop_unit(run, u, StopMode.skip) for u in units))
        indices = ", ".join(str(u.index) for u in units)
        return ActionResult(id=job_id, status=job.status, changed=True, message=f"skipping image {indices}")

    async def _stop_unit(self, run: JobRun, unit: Unit, mode: StopMode) -> None:
        """Until the worker acknowledges the stop, or the image ends some other way (the worker answered,
        or died: a hung one is the watchdog's). The worker may not know the task yet (generate still in its
        pipe, or behind a slow load), so an unknown task is asked about again, less and less often."""
        unit.stop_sent = mode.value
        delay = 0.02
        while unit.task.task_id in run.units:
            if await unit.worker.stop_task(unit.task.task_id, mode):
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.5)

    # ----- assigning work ---------------------------------------------------------------------

    def _assign(self) -> None:
        if self._stopping:
            return
        idle = self.pool.idle_workers()
        blocked: set[str] = set()
        while idle:
            run = self._next_run(blocked)
            if run is None:
                return
            worker = self._pick(run, run.pending[0], idle)
            if worker is None:
                blocked.add(run.job.id)
                continue
            idle.remove(worker)
            self._launch(run, run.pending.popleft(), worker)

    def _next_run(self, blocked: set[str]) -> JobRun | None:
        def rank(job: Job) -> tuple[int, int]:
            return (-job.priority, job.seq)

        ready = [r for r in self.runs.values() if r.pending and r.job.id not in blocked]
        best = min(ready, key=lambda r: rank(r.job), default=None)
        while True:
            head = self.store.next_queued()
            if head is None or (best is not None and rank(best.job) <= rank(head)):
                return best
            run = self._activate(head)
            if run is not None and run.pending:
                return run

    def _activate(self, queued: Job) -> JobRun | None:
        job = self.store.mark_running(queued.id)
        if job is None or job.status is not JobStatus.running:
            return None
        run = JobRun.start(job)
        self.runs[job.id] = run
        self.events.publish(JobEvent(type="started", job_id=job.id, status=job.status, progress=run.progress()))
        if run.over:  # resumed with every image already made
            self._maybe_finish(run)
        return run

    def _pick(self, run: JobRun, index: int, idle: list[WorkerHandle]) -> WorkerHandle | None:
        avoid = run.avoid.get(index, set())
        choices = [w for w in idle if w.name not in avoid]
        if not choices:
            # Retry on another worker when one is alive, even if it is busy now; else on any.
            alive = (WorkerState.idle, WorkerState.busy)
            if any(w.name not in avoid and w.state in alive for w in self.pool.workers):
                return None
            choices = idle
        task, _ = run.job.normalized.locate(index)
        model = task.base_model
        warm = [w for w in choices if w.last_model == model.name
                or model.name in w.loaded_models or model.path in w.loaded_models]
        return (warm or choices)[0]

    def _launch(self, run: JobRun, index: int, worker: WorkerHandle) -> None:
        unit = Unit(task=run.unit_task(index, self._preview), index=index, worker=worker)
        run.units[unit.task.task_id] = unit
        self._units[unit.task.task_id] = (run, unit)
        worker.reserve(run.job.id, unit.task.task_id)
        self.store.add_worker(run.job.id, worker.name)
        if run.job.id not in self._announced:
            self._announced.add(run.job.id)
            job_log.started(run.job, worker)
        else:
            log.debug("job %s image %d on worker %s", run.job.id, index, worker.name)
        self._track(self._run_unit(run, unit), f"unit {unit.task.task_id}")

    def _track(self, coro: Any, name: str) -> None:  # a task drain_units waits for
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ----- one image on one worker ------------------------------------------------------------

    async def _run_unit(self, run: JobRun, unit: Unit) -> None:
        worker = unit.worker
        result: TaskResult | None = None
        try:
            result = await worker.generate(await with_input_bytes(unit.task, self.inputs))
        except InputUnreadable as exc:
            log.error("job %s: %s", run.job.id, exc)
            run.fail(JobError(kind="input", message=str(exc)))
        except WorkerGone:
            if not self._stopping:
                self._worker_died(run, unit)
        except RpcCallError as exc:
            if exc.code == BUSY:  # out of step with the worker: try again shortly, unless it was called off
                if not run.cancel_requested and run.failure is None:
                    run.pending.appendleft(unit.index)
                    await asyncio.sleep(0.25)
            else:
                result = self._task_failed(run, unit, exc)
        except Exception as exc:  # noqa: BLE001 - recorded on the job, never lost
            log.exception("task %s failed in the orchestrator", unit.task.task_id)
            run.fail(JobError(kind="internal", message=f"{type(exc).__name__}: {exc}"))
        if result is not None:
            try:
                await self._keep(run, unit, result)
            except Exception as exc:  # noqa: BLE001 - the job store failed; the worker must still be released
                run.output_failed(unit.index, "recorded", exc)
        run.units.pop(unit.task.task_id, None)
        self._units.pop(unit.task.task_id, None)
        worker.release()
        if self._stopping:
            return
        if run.failure is not None or run.cancel_requested:
            for other in [u for u in run.units.values() if u.stop_sent is None]:
                self._track(self._stop_unit(run, other, StopMode.stop), f"stop {other.task.task_id}")
        self._maybe_finish(run)
        self.wake()

    def _worker_died(self, run: JobRun, unit: Unit) -> None:
        index, worker = unit.index, unit.worker
        run.image_reset(index)
        if run.cancel_requested or run.failure is not None:
            return
        reason = (f"worker {worker.name} ({worker.device}) ended while making image {index}: "
                  f"{worker.kill_reason or 'the process exited'}{worker.protocol_note()}")
        if run.retries.get(index, 0) < MAX_RETRIES:
            run.retries[index] = run.retries.get(index, 0) + 1
            run.avoid[index].add(worker.name)
            run.pending.appendleft(index)
            self.stats.retries += 1
            log.warning("%s; retrying", reason)
            self.events.publish(JobEvent(type="retrying", job_id=run.job.id, message=f"{reason}; retrying"))
        else:
            run.fail(JobError(kind="worker_died", message=f"{reason}; it had been retried {MAX_RETRIES} time(s)"))

    def _task_failed(self, run: JobRun, unit: Unit, exc: RpcCallError) -> TaskResult | None:
        failure = exc.failure
        if failure is not None and failure.kind is FailureKind.cancelled:
            return failure.partial
        if failure is None:
            run.fail(JobError(kind="internal", message=f"worker {unit.worker.name}: {exc.message}"))
            return None
        field = f"task.{failure.field}" if failure.field else None
        run.fail(JobError(kind=failure.kind.value, message=f"image {unit.index}: {failure.message}", field=field))
        return failure.partial

    async def _keep(self, run: JobRun, unit: Unit, result: TaskResult) -> None:
        """Save and index each image the worker returned (on the writer's thread); record skipped ones."""
        job, worker = run.job, unit.worker
        for image in result.images:
            try:
                relpath, history_id = await self.writer.save(job.id, job.normalized.images[unit.index], image)
            except OutputFailed as failed:
                run.output_failed(unit.index, failed.what, failed.cause)
                continue
            record = ImageRecord(index=unit.index, seed=image.seed, status="done", relpath=relpath,
                                 url=self.outputs.url_for(relpath), width=image.width, height=image.height,
                                 format=image.format.value, history_id=history_id, worker=worker.name,
                                 warnings=list(result.warnings), kernel_seconds=result.timings.total)
            self._record(run, record)
        for k in result.skipped:
            record = ImageRecord(index=unit.index, seed=unit.task.seeds[k], status="skipped", worker=worker.name)
            self._record(run, record)
        if result.stopped and not result.images and not result.skipped and not run.cancel_requested:
            if not self._stopping and run.failure is None:
                run.pending.appendleft(unit.index)  # stopped without being asked (worker shutdown): again

    def _record(self, run: JobRun, record: ImageRecord) -> None:
        self.store.add_image(run.job.id, record)
        run.image_done(record.index)
        done = record.status == "done"
        self.stats.images_done += done
        self.stats.images_skipped += not done
        self.events.publish(JobEvent(type="image_ready" if done else "image_skipped", job_id=run.job.id,
                                     image=image_view(record), progress=run.progress()))

    def on_progress(self, worker: WorkerHandle, report: Progress) -> None:
        entry = self._units.get(report.task_id)
        if entry is None:
            return
        run, unit = entry
        before = run.steps.get(unit.index, 0)
        progress = run.progress(unit, report)
        if (delta := run.steps.get(unit.index, 0) - before) > 0:
            self.stats.add_steps(delta)
        self.events.publish(JobEvent(type="progress", job_id=run.job.id, progress=progress))

    # ----- finishing --------------------------------------------------------------------------

    def _maybe_finish(self, run: JobRun) -> None:
        if not run.over or self.runs.get(run.job.id) is not run:
            return
        del self.runs[run.job.id]
        status = JobStatus.succeeded
        if run.failure is not None:
            status = JobStatus.failed
        elif run.cancel_requested and len(run.finished) < run.job.images_total:
            status = JobStatus.cancelled
        self._finish(run.job.id, status, run.failure, started=run.job.started_at)

    def _finish(self, job_id: str, status: JobStatus, error: JobError | None, *, started: float | None) -> None:
        self._announced.discard(job_id)
        job = self.store.finish(job_id, status, error)
        if job is None:
            return
        job_log.finished(job)
        seconds = job.finished_at - started if started and job.finished_at else None
        self.stats.job_finished(job.status, seconds)
        self.events.publish(JobEvent(type=_TERMINAL_EVENT[job.status], job_id=job_id, status=job.status,
                                     error=job.error, progress=stored_progress(job)))
        if job.webhook_url:
            body = _enc.encode(self.view(job))
            self.webhooks.send(job.webhook_url, f"job.{job.status.value}", body)
