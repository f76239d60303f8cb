"""Celery tasks: thin adapters that take ids (JSON) and call one service."""

import uuid
from typing import Any

from celery import Task, shared_task
from django.db import InterfaceError, OperationalError

from agents.runtime.llm import ProviderTransientError


@shared_task(
    name="agents.run_agent",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    # OperationalError/InterfaceError: the database was out of reach (a pool timeout under a burst, a restart)
    # before the claim or mid-run (lib.dbpool); a retry keeps the task id, so it claims or resumes the run as a
    # redelivery would.
    autoretry_for=(ProviderTransientError, OperationalError, InterfaceError),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=3,
    soft_time_limit=1800,
    time_limit=1900,
)
def run_agent(self: "Task[Any, Any]", run_id: str) -> None:
    """Execute (or resume, on redelivery of this same message) one run. Returns quietly when the run is gone,
    finished, or someone else's. The claim token is the task id, which a redelivered message keeps."""
    from agents.runtime.loop import run_execute

    run_execute(run_id=uuid.UUID(run_id), token=f"celery-{self.request.id}")
