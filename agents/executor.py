"""In-process run executor for the embedded profile (no Redis): a small thread pool in the server process.
Each submitted run is claimed like a Celery task would claim it; when a run ends, run_finish dispatches the
agent's next queued run back here."""

import logging
import threading
import uuid
from concurrent.futures import Future, ThreadPoolExecutor

from django.conf import settings
from django.db import close_old_connections

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


def _get_pool() -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=settings.ENGRAM_INPROCESS_WORKERS, thread_name_prefix="engram-run")
        return _pool


def _execute(run_id: uuid.UUID) -> None:
    from agents.loop import run_execute

    close_old_connections()
    try:
        run_execute(run_id=run_id, token=f"inprocess-{uuid.uuid4()}")
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
