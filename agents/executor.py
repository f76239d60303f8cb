"""In-process run executor for the embedded profile (no Redis): a small thread pool in the server process.
Each submitted run is claimed like a Celery task would claim it; when a run ends, run_finish dispatches the
agent's next queued run back here."""

import datetime as dt
import logging
import threading
import uuid
from concurrent.futures import Future, ThreadPoolExecutor

from django.conf import settings
from django.db import close_old_connections

logger = logging.getLogger(__name__)

TOKEN_PREFIX = "inprocess-"  # noqa: S105 (a claim-token prefix, not a secret)
_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


def _get_pool() -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=settings.ENGRAM_INPROCESS_WORKERS, thread_name_prefix="engram-run")
            _pool.submit(_recover)
        return _pool


def _recover() -> None:
    """Runs left `running` by an in-process executor that is gone (the server restarted mid-run) would block
    their agent for good. Adopt the stale ones (nothing happened for longer than an LLM call may take) and
    resume them after their last persisted step; then start the first queued run of every waiting agent."""
    from django.utils import timezone

    from agents.loop import run_execute
    from agents.models import Run, RunStatus
    from agents.services.runs import run_dispatch_next

    close_old_connections()
    try:
        cutoff = timezone.now() - dt.timedelta(seconds=2 * settings.ENGRAM_LLM_TIMEOUT + 60)
        stale = Run.objects.filter(
            status=RunStatus.RUNNING, claim_token__startswith=TOKEN_PREFIX, started_at__lt=cutoff
        )
        for run in stale.exclude(steps__created_at__gte=cutoff):
            token = f"{TOKEN_PREFIX}{uuid.uuid4()}"
            if Run.objects.filter(pk=run.pk, claim_token=run.claim_token).update(claim_token=token):
                logger.warning("resuming run %s left running by a previous process", run.id)
                run_execute(run_id=run.id, token=token)
        waiting = Run.objects.filter(status=RunStatus.QUEUED).values_list("agent_id", flat=True).distinct()
        for agent_id in list(waiting):
            run_dispatch_next(agent_id=agent_id)
    except Exception:
        logger.exception("recovering in-process runs failed")
    finally:
        close_old_connections()


def _execute(run_id: uuid.UUID) -> None:
    from agents.loop import run_execute

    close_old_connections()
    try:
        run_execute(run_id=run_id, token=f"{TOKEN_PREFIX}{uuid.uuid4()}")
    except Exception:
        logger.exception("run %s crashed", run_id)
    finally:
        close_old_connections()  # keeps the connection for the next run within DB_CONN_MAX_AGE


def submit(run_id: uuid.UUID) -> Future[None]:
    return _get_pool().submit(_execute, run_id)


def shutdown(wait: bool = True) -> None:
    global _pool
    with _lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=wait)
