"""Waiting for a run to end.

A waiter (the sync REST call, `manage.py chat`) wakes as soon as the run ends: through an in-process event
set by run_finish in this process, or, when a Celery worker ran it, by this process's one listener thread,
subscribed to every run's end on Redis. The database stays the truth: the row is re-read on every wake-up and
at least every second when every end wakes the waiter (a listener; or the in-process executor, whose runs end in
this process), else every 10 ms → 100 ms, backing off. (Polling every 100 ms, 200 requests waiting in the
embedded profile read their runs 2,000 times a second, a good part of a core.)"""

import functools
import logging
import threading
import time
import uuid
from typing import Any

from django.conf import settings

from agents.models import Run, RunStatus
from lib.background import Worker
from lib.dbpool import connection_release

logger = logging.getLogger(__name__)


TERMINAL_STATUSES = (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED)


_waiters_lock = threading.Lock()


_waiters: dict[uuid.UUID, threading.Event] = {}


_CHANNEL = "engram:run-done:{}"


@functools.cache
def _redis() -> Any:
    import redis

    return redis.Redis.from_url(settings.REDIS_URL)


def _wake(run_id: uuid.UUID) -> None:
    with _waiters_lock:
        waiter = _waiters.get(run_id)
    if waiter is not None:
        waiter.set()


def waiters_notify(run_id: uuid.UUID) -> None:
    _wake(run_id)
    if settings.REDIS_URL:
        try:
            _redis().publish(_CHANNEL.format(run_id), b"1")
        except Exception:  # waiters fall back to polling
            logger.warning("could not publish the end of run %s", run_id, exc_info=True)


class _RunEndListener:
    """One background worker per process with a Redis pattern subscription to every run's end: a wait costs no
    connection or subscription of its own."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._worker = Worker("engram-run-ends")
        self._ready = threading.Event()

    def listening(self) -> bool:
        """Start listening if this process is not yet (a forked child starts afresh); True once subscribed
        (waits up to a second for that)."""
        with self._lock:
            if not self._worker.running:
                self._ready.clear()
                self._worker.submit(self._run)
        return self._ready.wait(timeout=1.0)

    def _run(self) -> None:
        prefix = _CHANNEL.format("")
        while True:
            try:
                with _redis().pubsub() as pubsub:  # closes its connection when the loop fails
                    pubsub.psubscribe(_CHANNEL.format("*"))
                    for message in pubsub.listen():
                        if message["type"] == "psubscribe":
                            self._ready.set()
                        elif message["type"] == "pmessage":
                            channel = message["channel"].decode()
                            _wake(uuid.UUID(channel.removeprefix(prefix)))
            except Exception:
                if self._worker.stopping:  # the interpreter (or a test's Redis) is going: no warnings
                    return
                logger.warning("listening for run ends on Redis failed; retrying in 1 s", exc_info=True)
            self._ready.clear()
            time.sleep(1.0)


_listener = _RunEndListener()


def _status(run_id: uuid.UUID) -> str | None:
    return Run.objects.filter(pk=run_id).values_list("status", flat=True).first()


def run_wait(*, run_id: uuid.UUID, timeout: float) -> Run:
    """Block until the run is final or `timeout` seconds pass; returns the run as it then is."""
    deadline = time.monotonic() + timeout
    with _waiters_lock:
        waiter = _waiters.setdefault(run_id, threading.Event())
    woken = (bool(settings.REDIS_URL) and _listener.listening()) or settings.ENGRAM_RUN_EXECUTOR == "inprocess"
    interval = 0.01
    try:
        # Usually still running: read the status alone first, the whole row after a wake-up.
        if _status(run_id) in TERMINAL_STATUSES:
            return Run.objects.get(pk=run_id)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return Run.objects.get(pk=run_id)
            connection_release()  # a pooled connection serves others while this thread waits
            if waiter.wait(min(1.0 if woken else interval, remaining)):
                waiter.clear()
            else:
                interval = min(interval * 1.5, 0.1)
                status = _status(run_id)  # a periodic look: the run usually still runs, and its status says so
                if status is not None and status not in TERMINAL_STATUSES:
                    continue
            run = Run.objects.get(pk=run_id)  # raises DoesNotExist for a run deleted meanwhile, as before
            if run.status in TERMINAL_STATUSES:
                return run
    finally:
        with _waiters_lock:
            if _waiters.get(run_id) is waiter:
                _waiters.pop(run_id, None)
