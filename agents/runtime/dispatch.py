"""Fair dispatch: which queued runs go to the executor, and when.

An organization has at most `ENGRAM_ORG_MAX_ACTIVE_RUNS` runs in flight: running, or dispatched (handed to the
executor, i.e. waiting in the in-process pool's queue or in Celery's `llm` queue) and not yet claimed. Its other
queued runs stay in the database, undispatched, until one of its runs ends; then its oldest eligible queued run
(across its agents; an agent's runs in arrival order, one at a time) takes the slot. So the executor's queue never
holds more than the cap for one organization, and a burst from one organization delays another's message by at
most one run's time.

The decision (count in flight, pick, mark `dispatched_at`) is one transaction under the organization's row lock on
PostgreSQL (SQLite's IMMEDIATE transactions already serialize writers), so two dispatchers never both take the
last slot. The hand-off to the executor happens after commit; a failed hand-off is undone, and a dispatch lost
later (a flushed broker, a process that died with runs in its pool's queue) is found by `runs_sweep`, which
re-sends runs dispatched too long ago and fills free slots."""

import datetime as dt
import functools
import logging
import time
import uuid

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.utils import timezone

from accounts.models import Organization
from agents.models import Run, RunStatus
from agents.services.approvals import approvals_expire
from lib.background import Worker

logger = logging.getLogger(__name__)
# Runs dispatched before this moment to an in-process pool were in a process that is gone (agents.runtime.executor).
PROCESS_STARTED = timezone.now()


def same_conversation(vendor: str, left: str, right: str) -> str:
    """SQL: two runs belong to the same conversation of their agent (the agent's own history is NULL)."""
    same = "IS NOT DISTINCT FROM" if vendor == "postgresql" else "IS"
    return f"{left}.agent_id = {right}.agent_id AND {left}.conversation_id {same} {right}.conversation_id"


@functools.cache
def _pick_sql(vendor: str) -> str:
    """The organization's oldest queued, undispatched runs that could be claimed now (nothing of their
    conversation runs or is dispatched, and no earlier send to it is queued: what run_claim checks; the agent's
    own history counts as one conversation, and conversations of one agent run side by side), each with the
    organization's count of runs in flight (running, or queued and dispatched). Raw SQL built once: this runs on
    every send and every run's end, and the ORM's compilation of it costs more than the query."""
    run = connection.ops.quote_name(Run._meta.db_table)
    return (
        f"SELECT r.id, (SELECT COUNT(*) FROM {run} f WHERE f.status = %(running)s AND f.organization_id = %(org)s) "  # noqa: S608 (fixed names)
        f"+ (SELECT COUNT(*) FROM {run} f WHERE f.status = %(queued)s AND f.organization_id = %(org)s "
        f"AND f.dispatched_at IS NOT NULL) FROM {run} r "
        f"WHERE r.status = %(queued)s AND r.organization_id = %(org)s AND r.dispatched_at IS NULL "
        f"AND NOT EXISTS (SELECT 1 FROM {run} e WHERE {same_conversation(vendor, 'e', 'r')} "
        f"AND (e.status = %(running)s "
        f"OR (e.status = %(queued)s AND (e.dispatched_at IS NOT NULL OR e.position < r.position)))) "
        f"ORDER BY r.created_at, r.id LIMIT %(limit)s"
    )


def _pick(organization_id: uuid.UUID, limit: int) -> list[tuple[uuid.UUID, int]]:
    params = {
        "running": RunStatus.RUNNING.value,
        "queued": RunStatus.QUEUED.value,
        "org": Organization._meta.pk.get_db_prep_value(organization_id, connection),
        "limit": limit,
    }
    with connection.cursor() as cursor:
        cursor.execute(_pick_sql(connection.vendor), params)
        return [(Run._meta.pk.to_python(run_id), int(busy)) for run_id, busy in cursor.fetchall()]


@functools.cache
def _lock_sql(vendor: str) -> str:
    return f"SELECT 1 FROM {connection.ops.quote_name(Organization._meta.db_table)} WHERE id = %s FOR UPDATE"  # noqa: S608


def organization_lock(*, organization_id: uuid.UUID) -> None:
    """Take the organization's dispatch lock for the rest of the caller's transaction (PostgreSQL: its row lock;
    SQLite's IMMEDIATE transactions already hold the database's write lock). A transaction that frees a slot takes
    it too, so a concurrent run_create's count either sees the slot free or its run is visible to the look for
    waiting runs after the commit; otherwise that run could wait for the sweep."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_lock_sql(connection.vendor), [organization_id])


def runs_schedule(*, organization_id: uuid.UUID, look_first: bool = True) -> list[uuid.UUID]:
    """Give the organization's free run slots to its oldest eligible queued runs; they are handed to the executor
    after commit. Returns their ids. Call it in the transaction that queued a run (run_create: `look_first=False`)
    or after the commit that freed a slot (a run's end: `look_first` reads, without a lock, whether anything
    waits at all, the usual answer); anything committed later schedules itself. Holds the organization's row
    lock (PostgreSQL) until the caller's transaction ends."""
    cap = settings.ENGRAM_ORG_MAX_ACTIVE_RUNS
    if look_first and not _pick(organization_id, 1):
        return []
    with transaction.atomic(savepoint=False):
        organization_lock(organization_id=organization_id)
        rows = _pick(organization_id, cap)
        chosen = [run_id for run_id, _ in rows[: max(0, cap - rows[0][1])]] if rows else []
        if chosen:
            Run.objects.filter(pk__in=chosen).update(dispatched_at=timezone.now())
            transaction.on_commit(lambda: _hand_out(chosen))
    return chosen


def run_dispatch(*, organization_id: uuid.UUID, look_first: bool = True) -> None:
    """Schedule the organization's queued runs on the configured executor ("manual": tests run them themselves)."""
    if settings.ENGRAM_RUN_EXECUTOR != "manual":
        runs_schedule(organization_id=organization_id, look_first=look_first)


def run_release(*, run_id: uuid.UUID) -> bool:
    """Give back the slot of a dispatched run that its executor did not claim (it was not first in line, or the
    hand-off failed). It waits, undispatched, for the next scheduling of its organization."""
    return bool(
        Run.objects.filter(pk=run_id, status=RunStatus.QUEUED, dispatched_at__isnull=False).update(dispatched_at=None)
    )


def _hand_out(run_ids: list[uuid.UUID]) -> None:
    for run_id in run_ids:
        try:
            if settings.ENGRAM_RUN_EXECUTOR == "celery":
                from agents.runtime.tasks import run_agent as run_agent_task

                run_agent_task.delay(str(run_id))
            elif settings.ENGRAM_RUN_EXECUTOR == "inprocess":
                from agents.runtime.executor import submit

                submit(run_id)
        except Exception:
            logger.exception("could not hand run %s to the executor; it waits for the next sweep", run_id)
            run_release(run_id=run_id)


def runs_sweep(*, dispatched_before: dt.datetime | None = None) -> None:
    """Re-send queued runs dispatched before `dispatched_before` (default: ENGRAM_DISPATCH_STALE_SECONDS ago; the
    executor lost them, or is very late: a duplicate is harmless, only one claim succeeds), then schedule every
    organization with undispatched queued runs, and deny tool calls whose approval is overdue. Each stale run is
    re-sent by one sweeper only (conditional UPDATE), however many processes sweep."""
    now = timezone.now()
    if dispatched_before is None:
        dispatched_before = now - dt.timedelta(seconds=settings.ENGRAM_DISPATCH_STALE_SECONDS)
    stale = Run.objects.filter(status=RunStatus.QUEUED, dispatched_at__lt=dispatched_before)
    resend = [
        run_id
        for run_id, at in stale.values_list("id", "dispatched_at")[:1000]
        if Run.objects.filter(pk=run_id, status=RunStatus.QUEUED, dispatched_at=at).update(dispatched_at=now)
    ]
    if resend:
        logger.warning("re-sending %d run(s) dispatched before %s", len(resend), dispatched_before.isoformat())
        _hand_out(resend)
    waiting = Run.objects.filter(status=RunStatus.QUEUED, dispatched_at=None).values_list("organization_id", flat=True)
    for organization_id in set(waiting):
        run_dispatch(organization_id=organization_id)
    # Tool calls nobody answered in time are denied, so their agents take input again (also done lazily on send).
    expired = approvals_expire(now=now)
    if expired:
        logger.info("denied the unanswered tool calls of %d run(s) past ENGRAM_APPROVAL_TTL", expired)


def runs_sweep_logged() -> None:
    """One sweep as a background loop runs it: a failure is logged, not raised, and the connection is tidied on
    both sides (the loops of the Celery worker and of the in-process executor both call this)."""
    close_old_connections()
    try:
        runs_sweep()
    except Exception:
        logger.exception("sweeping for lost run dispatches failed")
    finally:
        close_old_connections()


_sweeper = Worker("engram-run-sweep")


def runs_sweeper_start() -> Worker:
    """Sweep now and every ENGRAM_DISPATCH_SWEEP_SECONDS on a background worker of this process (a Celery worker;
    the in-process executor sweeps through its own pool)."""

    def sweep_forever() -> None:
        while not _sweeper.stopping:
            runs_sweep_logged()
            time.sleep(settings.ENGRAM_DISPATCH_SWEEP_SECONDS)

    _sweeper.submit(sweep_forever)
    return _sweeper
