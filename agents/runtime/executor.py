"""In-process run executor for the embedded profile (no Redis): a small thread pool in the server process.
Each submitted run is claimed like a Celery task would claim it; when a run ends, run_finish dispatches the
organization's next queued run back here (agents.runtime.dispatch keeps each organization to its share of the
pool). The pool sweeps for lost dispatches when it starts and every ENGRAM_DISPATCH_SWEEP_SECONDS."""

import functools
import logging
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor

from django.conf import settings
from django.db import close_old_connections

from lib.background import Worker
from lib.holders import holder_token

logger = logging.getLogger(__name__)

TOKEN_PREFIX = "inprocess-"  # noqa: S105 (a claim-token prefix, not a secret)
_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_sweeper = Worker("engram-run-sweep")


def _get_pool() -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=settings.ENGRAM_INPROCESS_WORKERS, thread_name_prefix="engram-run")
            _pool.submit(_recover)
            _sweeper.submit(functools.partial(_sweep_every, _pool))
        return _pool


def _sweep_every(pool: ThreadPoolExecutor) -> None:
    """Queue a sweep on `pool` every ENGRAM_DISPATCH_SWEEP_SECONDS while it is this process's pool."""
    while not _sweeper.stopping:
        time.sleep(settings.ENGRAM_DISPATCH_SWEEP_SECONDS)
        with _lock:
            if _pool is not pool:
                return
            pool.submit(_sweep)


def _sweep() -> None:
    from agents.runtime.dispatch import runs_sweep_logged
    from files.services.processing import files_resume_stale

    runs_sweep_logged()
    try:
        files_resume_stale()  # the same periodic sweep finds file processing a stopped process left behind
    except Exception:
        logger.exception("resuming file processing left behind failed")
    finally:
        close_old_connections()


def _recover() -> None:
    """Recover what a previous process on this data directory left (the server was killed and restarted): runs
    it held `running` (its token names a process that is gone) are queued again to resume after their last
    persisted step, or failed after ENGRAM_RUN_MAX_RECOVERIES (agents.runtime.lease); runs dispatched to its pool
    are sent again (a duplicate of a run another process holds is harmless: one claim wins); every
    organization's free slots are filled. From now on this process renews its runs' leases and reaps lapsed ones."""
    from agents.runtime.dispatch import PROCESS_STARTED, runs_sweep
    from agents.runtime.lease import reaper_start, runs_reap

    close_old_connections()
    try:
        recovered = runs_reap(in_process_prefix=TOKEN_PREFIX)
        if recovered:
            logger.warning("recovered %d run(s) left running by a previous process", len(recovered))
        runs_sweep(dispatched_before=PROCESS_STARTED)
    except Exception:
        logger.exception("recovering in-process runs failed")
    finally:
        close_old_connections()
    reaper_start()


def _execute(run_id: uuid.UUID) -> None:
    """Execute the run; through a moment without the database it waits and claims the run again as its holder
    (agents.runtime.loop.run_execute_through_outages), as the Celery task does."""
    from agents.runtime.loop import run_execute_through_outages

    try:
        run_execute_through_outages(run_id=run_id, token=holder_token(TOKEN_PREFIX))
    except Exception:
        logger.exception("run %s crashed", run_id)


def start() -> None:
    """Start the pool now (the server's start, embedded profile): what a previous process left is recovered at
    once, not on the first request."""
    _get_pool()


def submit(run_id: uuid.UUID) -> Future[None]:
    return _get_pool().submit(_execute, run_id)


def shutdown(wait: bool = True) -> None:
    """Stop the pool and what it started: its sweeps (the loop ends at its next tick) and reaping."""
    from agents.runtime.lease import reaper_stop

    global _pool
    with _lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=wait)
        reaper_stop()
