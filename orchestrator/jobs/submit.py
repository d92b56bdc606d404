"""Submitting a job: the one use-case every face (the /v1 API, RemGo's routes, …) goes through.

Each face brings its body and its decoder (its own request shape → a GenerateRequest); from there the path
is the same: the webhook target is checked, an id seen before returns that job unchanged (idempotent
retries: the body is not even decoded again), the request is decoded, its input images are checked and
stored (inline ones become `{"upload_id"}` in the kept body), it is normalized (off the event loop: presets,
styles and wildcards read the catalog, images are decoded and hashed), and the job is queued with its body.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import msgspec

from contract.request import GenerateRequest
from orchestrator.catalog import Catalog
from orchestrator.common.field_error import FieldError
from orchestrator.common.input_image import ResolvedImage
from orchestrator.jobs.dispatcher import Dispatcher
from orchestrator.jobs.kept_body import without_inline_images
from orchestrator.jobs.store import Job, JobStatus, Normalized
from orchestrator.jobs.webhooks import WebhookSender, url_problem
from orchestrator.normalize import NormalizeError, normalize
from orchestrator.store.input_checks import InputRefused
from orchestrator.store.input_refs import InputResolver


class SubmitRefused(FieldError):
    """The submission cannot become a job; `field` is a JSON path into the body or a parameter's name.
    (A full queue is the dispatcher's QueueFull, answered 429 by the faces.)"""


class InputImageRefused(SubmitRefused):
    """An input image that is not taken (not an image, too large, truncated, an unknown id): a 400 on /v1."""


@dataclass(frozen=True)
class Decoded:
    """A body as a face reads it."""

    request: GenerateRequest
    request_format: str  # which shape the body is in: "v2", "v1", "remgo", …
    notes: tuple[str, ...] = ()  # what the face's translation wants the job's warnings to say


@dataclass(frozen=True)
class Submission:
    body: bytes  # the request as the client sent it, kept with the job
    decode: Callable[[bytes], Decoded]  # the face's reading of it; its errors (FieldErrors) reach the face
    job_id: str | None = None  # the client's id (idempotent retries); a fresh one otherwise
    priority: int = 0
    webhook_url: str | None = None


class Submitter:
    def __init__(self, *, catalog: Catalog, dispatcher: Dispatcher, webhooks: WebhookSender, inputs: InputResolver,
                 default_preset: str, webhook_allow_private: bool) -> None:
        self.catalog = catalog
        self.inputs = inputs
        self.dispatcher = dispatcher
        self.webhooks = webhooks
        self.default_preset = default_preset
        self.webhook_allow_private = webhook_allow_private

    async def submit(self, s: Submission) -> tuple[Job, bool]:
        """The queued job (or the one with that id already) and whether this call created it."""
        if s.webhook_url is not None:
            problem = await url_problem(s.webhook_url, self.webhook_allow_private)
            if problem is None and not self.webhooks.enabled:
                problem = "this server has no webhook_secret configured, so it cannot sign webhooks"
            if problem:
                raise SubmitRefused("webhook_url", problem)
        existing = self.dispatcher.store.get(s.job_id) if s.job_id else None
        if existing is not None:
            return existing, False
        # Bodies with inline images are tens of megabytes: decoded off the event loop.
        decoded = await asyncio.to_thread(s.decode, s.body) if len(s.body) > 2**20 else s.decode(s.body)
        job_id = s.job_id or uuid.uuid4().hex
        try:
            request, inputs, body = await asyncio.to_thread(self._resolve, s.body, decoded.request)
        except InputRefused as exc:
            raise InputImageRefused(exc.field, exc.message, exc.suggestions) from None
        try:
            result = await asyncio.to_thread(normalize, request, self.catalog, job_id=job_id,
                                             default_preset=self.default_preset, inputs=inputs)
        except NormalizeError as exc:
            path = exc.field if exc.field.startswith("$") else f"$.{exc.field}"
            raise SubmitRefused(path, exc.message, exc.suggestions) from None
        normalized = Normalized(tasks=result.tasks, images=result.images, warnings=[*result.warnings, *decoded.notes],
                                request=result.request)
        job = Job(id=job_id, status=JobStatus.queued, normalized=normalized, request=msgspec.Raw(body),
                  request_format=decoded.request_format, priority=s.priority, webhook_url=s.webhook_url)
        return self.dispatcher.submit(job)

    def _resolve(self, body: bytes, request: GenerateRequest) -> tuple[GenerateRequest, dict[str, ResolvedImage], bytes]:
        """The request with its images stored and named by sha256, those images, and the body to keep."""
        resolved_request, inputs = self.inputs.resolve_inputs(request)
        return resolved_request, inputs, without_inline_images(body, request, inputs)
