"""Celery tasks: thin adapters that take ids (JSON) and call one service."""

import uuid
from typing import Any

from celery import Task, shared_task

from agents.runtime.llm import ProviderTransientError


@shared_task(
    name="agents.run_agent",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    # A database out of reach for a moment is waited out inside the task (run_execute_through_outages: claimed
    # again as soon as it answers), not retried through the broker after a back-off. A retry keeps the task id,
    # so it claims or resumes the run as a redelivery would.
    autoretry_for=(ProviderTransientError,),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=3,
    soft_time_limit=1800,
    time_limit=1900,
)
def run_agent(self: "Task[Any, Any]", run_id: str) -> None:
    """Execute (or resume, on redelivery of this same message) one run. Returns quietly when the run is gone,
    finished, or someone else's. The claim token is the task id, which a redelivered message keeps."""
    from agents.runtime.loop import run_execute_through_outages

    run_execute_through_outages(run_id=uuid.UUID(run_id), token=f"celery-{self.request.id}")
