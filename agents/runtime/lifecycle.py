"""A run from claim to end: the claim (one conditional UPDATE), the numbering of its input messages when it
starts, and its end (a conditional UPDATE, recorded on the agent; waiters woken and the organization's next run
dispatched after commit)."""

import datetime as dt
import uuid
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from agents.models import Agent, Message, MessageRole, Run, RunStatus
from agents.runtime import events, observe
from agents.runtime.dispatch import organization_lock, run_dispatch, same_conversation
from agents.runtime.recall import run_messages_embed_after_commit
from agents.runtime.waiting import waiters_notify
from agents.services.messages import seq_allocate


def lease_expiry() -> dt.datetime:
    """Until when a lease taken or renewed now lasts (agents.runtime.lease)."""
    return timezone.now() + dt.timedelta(seconds=settings.ENGRAM_RUN_LEASE_SECONDS)


def _claim_sql() -> str:
    table = connection.ops.quote_name(Run._meta.db_table)
    # started_at is the moment the claim went through. PostgreSQL: the UPDATE may wait for the agent's previous
    # run to commit its end (the unique index), so the clock is read in the statement, after that wait. SQLite:
    # the caller reads it once the transaction holds the write lock.
    started = "clock_timestamp()" if connection.vendor == "postgresql" else "%s"
    return (
        f"UPDATE {table} SET status = %s, claim_token = %s, lease_until = %s, started_at = {started} "  # noqa: S608
        f"WHERE id = %s AND status = %s AND NOT EXISTS (SELECT 1 FROM {table} e "
        f"WHERE {same_conversation(connection.vendor, 'e', table)} "
        f"AND e.status = %s AND e.position < {table}.position) RETURNING *"
    )


def run_claim(*, run_id: uuid.UUID, token: str) -> Run | None:
    """Claim a queued run for `token`: one conditional UPDATE … RETURNING (raw SQL: this runs once per request)
    that also checks that no earlier send to the run's conversation (the agent's own history is one) is still
    queued; the unique indexes refuse a second running run of the conversation. A running run is returned only
    to the holder of its token: a redelivered
    Celery message resumes. Returns None when the run is not ours to execute (gone, finished, another holder,
    or not first in line)."""
    pk = Run._meta.pk.get_db_prep_value(run_id, connection)
    try:
        with transaction.atomic():
            started = []
            if connection.vendor != "postgresql":
                started = [Run._meta.get_field("started_at").get_db_prep_value(timezone.now(), connection)]
            lease = Run._meta.get_field("lease_until").get_db_prep_value(lease_expiry(), connection)
            params = [RunStatus.RUNNING, token, lease, *started, pk, RunStatus.QUEUED, RunStatus.QUEUED]
            claimed = list(Run.objects.raw(_claim_sql(), params))  # the claimed row, or none
            if not claimed:
                # An earlier send goes first (it dispatches us when it ends), or the run is gone, final, or running:
                # ours only on a redelivery of the same task (its lease is renewed).
                mine = Run.objects.filter(pk=run_id, status=RunStatus.RUNNING, claim_token=token)
                return mine.first() if mine.update(lease_until=lease_expiry()) else None
            [run] = claimed
            _number_input(run)
            events.run_status(run)
    except IntegrityError:
        return None  # another run of this agent is running; it dispatches the next one when it ends
    observe.run_claimed(run)
    return run


def _number_input(run: Run) -> None:
    """Give the queued input messages their place in the history now that the run starts."""
    pending = list(Message.objects.filter(run=run, seq=None).order_by("created_at", "id"))
    if not pending:
        return
    first = seq_allocate(agent_id=run.agent_id, count=len(pending))
    for offset, message in enumerate(pending):
        message.seq = first + offset
        message.in_context = message.role != MessageRole.APPROVAL  # an approval is history, not model context
        # Usually one message: a plain UPDATE is much cheaper to build than bulk_update's CASE expressions.
        Message.objects.filter(pk=message.pk).update(seq=message.seq, in_context=message.in_context)
    for message in pending:
        events.message_created(message)


def run_finish(*, run: Run, status: str, stop_reason: str, error: str = "") -> bool:
    """Move a running run to a final status (conditional: False when it was cancelled meanwhile) and record it on
    the agent. After commit, waiters wake and the organization's next queued run, if any, is dispatched. Called inside
    the transaction of the run's last step, it commits with that step."""
    now = timezone.now()
    with transaction.atomic(savepoint=False):
        done = Run.objects.filter(pk=run.pk, status=RunStatus.RUNNING).update(
            status=status, stop_reason=stop_reason, error=error[:10_000], completed_at=now
        )
        if not done:  # cancelled meanwhile: run_cancel woke the waiters and dispatches the next run
            return False
        duration = int((now - run.started_at).total_seconds() * 1000) if run.started_at else None
        _record_on_agent(run, now, duration, stop_reason)
        run.status, run.stop_reason, run.error, run.completed_at = status, stop_reason, error, now
        events.run_status(run)
        run_end_effects(run)
    return True


def _record_on_agent(run: Run, now: Any, duration: int | None, stop_reason: str) -> None:
    """Record the run's end on its agent (one statement)."""
    table = connection.ops.quote_name(Agent._meta.db_table)
    completion = Agent._meta.get_field("last_run_completion").get_db_prep_value(now, connection)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET last_run_completion = %s, last_run_duration_ms = %s, last_stop_reason = %s "  # noqa: S608
            "WHERE id = %s",
            [completion, duration, stop_reason, Agent._meta.pk.get_db_prep_value(run.agent_id, connection)],
        )


def run_end_effects(run: Run) -> None:
    """Caller is in the transaction that ends the run."""
    # Waiters first: the caller's answer should not wait for the look-up of the next run. The run's slot is free
    # once this commits: its organization's oldest waiting run (of any of its agents) takes it.
    organization_lock(organization_id=run.organization_id)
    transaction.on_commit(lambda: waiters_notify(run.pk))
    transaction.on_commit(lambda: run_dispatch(organization_id=run.organization_id))
    run_messages_embed_after_commit(run.pk)
    observe.run_ended_after_commit(run)
