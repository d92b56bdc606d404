"""Fooocus-API's webhook: when a job sent with `webhook_url` ends, its payload (views.webhook_payload) is
POSTed there through remgo's WebhookSender, so it is signed (`X-Remgo-Signature`), retried, and a delivery
under way survives a restart. The job itself carries no `webhook_url` (remgo's own payload would go too):
the face waits for the job's end in the process that accepted it, so a job still queued or running when
the server stops sends no Fooocus-API webhook after the restart."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from orchestrator.compat.fooocus_api.views import webhook_payload
from orchestrator.jobs.store import TERMINAL
from orchestrator.jobs.webhooks import url_problem


async def webhook_problem(url: str, svc: Any) -> str | None:
    """Why a job's webhook cannot go to `url`, by the rules of remgo's own webhooks."""
    problem = await url_problem(url, svc.settings.webhook_allow_private)
    if problem is None and not svc.webhooks.enabled:
        problem = "this server has no webhook_secret configured, so it cannot sign webhooks"
    return problem


class Watches:
    """The deliveries still waiting for their job's end."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[None]] = set()

    def watch(self, svc: Any, job_id: str, url: str, base_url: str) -> None:
        task = asyncio.create_task(self._deliver(svc, job_id, url, base_url), name=f"fooocus-api webhook {job_id}")
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    @staticmethod
    async def _deliver(svc: Any, job_id: str, url: str, base_url: str) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            job = await svc.dispatcher.wait_done(job_id)
            if job is not None and job.status in TERMINAL:
                svc.webhooks.send(url, f"job.{job.status.value}", webhook_payload(job, base_url))


def watches(app_state: Any) -> Watches:
    found = getattr(app_state, "fooocus_api_watches", None)
    if found is None:
        found = app_state.fooocus_api_watches = Watches()
    return found
