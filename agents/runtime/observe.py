"""What the runtime reports about itself: the metrics of runs and steps, and one `engram.run` log line per run
(lib.metrics, lib.logs). LLM calls and tool calls are counted where they happen (`runtime.llm.complete`,
`tools.execute.execute_tool`), since other paths make them too."""

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import transaction
from django.db.models import Count, Sum

from agents.models import Run, Step
from lib import logs, metrics, tracing

logger = logging.getLogger("engram.run")


@contextmanager
def run_context(run: Run) -> Iterator[None]:
    """Log lines written while the run executes carry its ids; its span (with tracing on) continues the trace of
    the request that created it."""
    parent = (run.options or {}).get("trace")
    with (
        logs.bind(run_id=run.id, agent_id=run.agent_id, organization_id=run.organization_id),
        tracing.span(
            "agent_run",
            parent=parent if isinstance(parent, dict) else None,
            run_id=str(run.id),
            agent_id=str(run.agent_id),
            organization_id=str(run.organization_id),
        ),
    ):
        yield


def run_claimed(run: Run) -> None:
    if run.started_at is not None and run.created_at is not None:
        metrics.RUN_QUEUE_WAIT.observe(max(0.0, (run.started_at - run.created_at).total_seconds()))


def step_recorded(step: Step) -> None:
    """Caller is in the step's transaction: the step counts once it commits."""
    outcome = "error" if step.error else "ok"
    transaction.on_commit(lambda: metrics.STEPS.labels(step.model, outcome).inc())


def run_ended_after_commit(run: Run) -> None:
    """Caller is in the transaction that ends the run (finished or cancelled)."""
    transaction.on_commit(lambda: _run_ended(run))


def _run_ended(run: Run) -> None:
    metrics.RUNS.labels(run.status, run.stop_reason or "none").inc()
    duration = None
    if run.started_at is not None and run.completed_at is not None:
        duration = (run.completed_at - run.started_at).total_seconds()
        metrics.RUN_DURATION.labels(run.status).observe(duration)
    totals = Step.objects.filter(run_id=run.pk).aggregate(
        steps=Count("id"), prompt=Sum("prompt_tokens"), completion=Sum("completion_tokens"), cost=Sum("cost")
    )
    wait = (run.started_at - run.created_at).total_seconds() if run.started_at and run.created_at else None
    fields = {
        "event": "run",
        "run_id": str(run.pk),
        "agent_id": str(run.agent_id),
        "organization_id": str(run.organization_id),
        "status": run.status,
        "stop_reason": run.stop_reason,
        "steps": totals["steps"],
        "prompt_tokens": totals["prompt"] or 0,
        "completion_tokens": totals["completion"] or 0,
        "cost": round(totals["cost"] or 0.0, 8),
        "duration_ms": round(duration * 1000, 1) if duration is not None else None,
        "queue_wait_ms": round(wait * 1000, 1) if wait is not None else None,
    }
    logger.info(
        "run %s %s (%s) in %s steps",
        run.pk,
        run.status,
        run.stop_reason or "-",
        totals["steps"],
        extra={k: v for k, v in fields.items() if v is not None},
    )
