"""Leases on running runs, and the reaper that recovers the runs of a holder that died.

A run's holder (a Celery task or an in-process pool thread) holds a lease on it (`Run.lease_until`): the claim
sets it, and a background loop of the holder's process renews every lease the process holds every third of
ENGRAM_RUN_LEASE_SECONDS. A process that dies (SIGKILL, OOM, a lost machine) stops renewing; the reaper (the same
loop, in every Celery worker and in-process pool, every ENGRAM_RUN_REAP_SECONDS) finds the lapsed lease and hands
the run back: it is queued again at its place (its `position`), dispatched like any queued run, and the next
claim resumes it after its last persisted step (steps are written under the holder's token, so a holder that
was only slow finds its token gone and drops its step: nothing is stored twice). The runs queued behind it wait
for it as before. A run handed back ENGRAM_RUN_MAX_RECOVERIES times (it keeps killing its worker) fails with the
reason instead.

An in-process holder's token names its host, pid and the process's start time: a server restarted on the same
data directory (the embedded profile) sees at once that the process holding its runs is gone, without waiting
for the lease to lapse."""

import ctypes
import datetime as dt
import logging
import multiprocessing
import os
import threading
import time
import uuid
from multiprocessing.sharedctypes import Synchronized

from django.conf import settings
from django.db import close_old_connections, transaction
from django.db.models import F, Q
from django.utils import timezone

from agents.models import Run, RunStatus, StopReason
from agents.runtime import events
from agents.runtime.dispatch import organization_lock, run_dispatch
from agents.runtime.lifecycle import lease_expiry, run_finish
from lib.background import Worker
from lib.holders import HOST, holder_dead

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_held: dict[uuid.UUID, str] = {}  # this process's running runs: id → claim token
_loop = Worker("engram-run-lease")
_loop_pid: int | None = None  # the process whose loop is started (a forked child starts its own)
_reaping = False
_shutting_down = threading.Event()
_shutting_down_shared: "Synchronized[bool] | None" = None  # seen by forked pool processes (shutdown_watch)


def shutdown_watch() -> None:
    """In a Celery worker's main process, before its pool forks: the pool's processes (prefork) will see the
    worker's shutdown too (a flag in memory shared across the fork)."""
    global _shutting_down_shared
    _shutting_down_shared = multiprocessing.Value(ctypes.c_bool, False, lock=False)  # type: ignore[assignment]


def shutdown_begin() -> None:
    """This process is stopping (a Celery warm shutdown): its runs finish the step in flight, then are handed back."""
    _shutting_down.set()
    if _shutting_down_shared is not None:
        _shutting_down_shared.value = True


def shutting_down() -> bool:
    return _shutting_down.is_set() or bool(_shutting_down_shared is not None and _shutting_down_shared.value)


def lease_hold(*, run_id: uuid.UUID, token: str) -> None:
    """This process executes the run: renew its lease until `lease_drop`."""
    with _lock:
        _held[run_id] = token
    _start()


def lease_drop(*, run_id: uuid.UUID) -> None:
    with _lock:
        _held.pop(run_id, None)


def leases_renew() -> int:
    """Extend the lease of every run this process holds (one UPDATE). Returns how many were extended."""
    with _lock:
        tokens = list(_held.values())
    if not tokens:
        return 0
    return Run.objects.filter(status=RunStatus.RUNNING, claim_token__in=tokens).update(lease_until=lease_expiry())


def reaper_start() -> None:
    """Also reap lapsed leases from this process (Celery workers and in-process pools), now and periodically."""
    global _reaping
    _reaping = True
    _start()


def reaper_stop() -> None:
    """This process no longer reaps (its in-process pool was shut down); renewing held leases goes on."""
    global _reaping
    _reaping = False


def _start() -> None:
    global _loop_pid
    with _lock:
        if _loop_pid == os.getpid():
            return
        _loop_pid = os.getpid()
    _loop.submit(_renew_and_reap_forever)


def _idle() -> bool:
    """Nothing to renew and no reaping to do: the loop ends (lease_hold starts it again)."""
    global _loop_pid
    with _lock:
        if _reaping or _held:
            return False
        _loop_pid = None
        return True


def _renew_and_reap_forever() -> None:
    last_reap = -float("inf")
    while not _loop.stopping and not _idle():
        close_old_connections()
        try:
            leases_renew()
            if _reaping and time.monotonic() - last_reap >= settings.ENGRAM_RUN_REAP_SECONDS:
                last_reap = time.monotonic()
                runs_reap()
        except Exception:  # the database may be away for a moment (a restart): try again next tick
            logger.warning("renewing run leases or reaping lapsed ones failed", exc_info=True)
        finally:
            close_old_connections()
        time.sleep(min(settings.ENGRAM_RUN_LEASE_SECONDS / 3, settings.ENGRAM_RUN_REAP_SECONDS))


def runs_reap(*, in_process_prefix: str = "inprocess-") -> list[uuid.UUID]:
    """Hand back (or fail) every running run whose lease lapsed, or whose in-process holder on this host is gone.
    Each run is recovered by one reaper only (a conditional UPDATE on its token). Returns the runs recovered."""
    now = timezone.now()
    lapsed = Q(lease_until__lt=now) | Q(lease_until=None, started_at__lt=now - dt.timedelta(seconds=60))
    fields = ("id", "claim_token", "recoveries", "organization_id")
    rows = list(Run.objects.filter(lapsed, status=RunStatus.RUNNING).values_list(*fields)[:500])
    held_here = Run.objects.filter(status=RunStatus.RUNNING, claim_token__startswith=f"{in_process_prefix}{HOST}:")
    seen = {row[0] for row in rows}
    rows += [
        row
        for row in held_here.values_list(*fields)[:500]
        if row[0] not in seen and holder_dead(row[1], in_process_prefix)
    ]
    return [run_id for run_id, token, count, _ in rows if run_recover(run_id=run_id, token=token, recoveries=count)]


def run_recover(*, run_id: uuid.UUID, token: str, recoveries: int) -> bool:
    """Take a running run from its dead holder (`token`): queue it again to resume, or fail it with the reason
    once it was handed back ENGRAM_RUN_MAX_RECOVERIES times. False when someone else took it first."""
    if recoveries < settings.ENGRAM_RUN_MAX_RECOVERIES:
        logger.warning("run %s: its holder (%s) is gone; queued again to resume", run_id, token)
        return _requeue(run_id=run_id, token=token, recovery=True)
    with transaction.atomic():
        reaper = f"reaper-{uuid.uuid4()}"
        if not Run.objects.filter(pk=run_id, status=RunStatus.RUNNING, claim_token=token).update(claim_token=reaper):
            return False
        logger.error("run %s failed: its holder died %d times", run_id, recoveries + 1)
        error = (
            f"The process executing this run stopped {recoveries + 1} times "
            f"(ENGRAM_RUN_MAX_RECOVERIES={settings.ENGRAM_RUN_MAX_RECOVERIES}); the run was given up."
        )
        run = Run.objects.get(pk=run_id)
        return run_finish(run=run, status=RunStatus.FAILED, stop_reason=StopReason.ERROR, error=error)


def run_hand_back(*, run_id: uuid.UUID, token: str) -> bool:
    """The holder gives the run back (its worker is shutting down): queued again and resumed by the next claim,
    which does not count as a recovery."""
    lease_drop(run_id=run_id)
    return _requeue(run_id=run_id, token=token, recovery=False)


def _requeue(*, run_id: uuid.UUID, token: str, recovery: bool) -> bool:
    """Queue a running run again at its place, if `token` still holds it; dispatched after commit."""
    with transaction.atomic():
        requeued = Run.objects.filter(pk=run_id, status=RunStatus.RUNNING, claim_token=token).update(
            status=RunStatus.QUEUED,
            claim_token="",
            dispatched_at=None,
            lease_until=None,
            recoveries=F("recoveries") + int(recovery),
        )
        if not requeued:
            return False
        run = Run.objects.get(pk=run_id)
        events.run_status(run)
        organization_lock(organization_id=run.organization_id)
        transaction.on_commit(lambda: run_dispatch(organization_id=run.organization_id))
    return True
