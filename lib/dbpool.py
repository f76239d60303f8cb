"""Database connections: pooled connections handed back around slow waits, and what a lost database looks like.

With a connection pool (PostgreSQL, `DB_POOL_SIZE`) a thread holds its connection from its first query until its
request or task ends. A thread that then waits a long time without the database (a run's LLM call, a request
waiting for its run to end) would keep a connection idle while other threads queue for one, and with more
waiting threads than `DB_POOL_SIZE` they fail after the pool's timeout. `connection_release()` hands the
connection back for the wait; the next query borrows one again (a pool borrow, well under a millisecond).

A database that is restarting, unreachable or too busy to hand out a connection in time (`DB_POOL_TIMEOUT`)
raises `OperationalError` or `InterfaceError` (SQLite: locked past its busy timeout). That is a moment's outage,
not a bug: the API and the ADE answer 503 with `Retry-After` (`database_unavailable`), and nothing reconnects by
hand: the pool checks a connection before lending it (`CONN_HEALTH_CHECKS`) and opens new ones once the server
answers again. A background check of the idle connections every second (`pool_watch_start`) replaces the broken
ones right after a restart, before a borrower meets them (psycopg_pool waits 1, 2, 4… s between failed checks in a
borrower's getconn, so a pool full of broken connections would time its borrowers out)."""

import logging
import os
import threading
import time

from django.db import InterfaceError, OperationalError, connection

from lib.background import Worker

logger = logging.getLogger(__name__)

# What a client is told to wait before sending again (seconds): about what a PostgreSQL restart takes.
RETRY_AFTER_SECONDS = 3
UNAVAILABLE_DETAIL = (
    "The database is unavailable right now (restarting, unreachable, or busy with other writes). "
    f"Try again in {RETRY_AFTER_SECONDS} seconds."
)


def database_unavailable(exc: BaseException) -> bool:
    """Is `exc` the database being out of reach for a moment (a 503 to retry), rather than a bug (a 500)?"""
    return isinstance(exc, OperationalError | InterfaceError)


def pooled() -> bool:
    """Does this process's default database use a connection pool?"""
    return bool(connection.settings_dict.get("OPTIONS", {}).get("pool"))


def connection_release() -> None:
    """Give this thread's pooled connection back before a wait that needs no database. Nothing happens without a
    pool (SQLite keeps its connection and page cache; a dropped PostgreSQL connection would cost a new session)
    or inside a transaction (the connection holds it)."""
    if pooled() and not connection.in_atomic_block and connection.connection is not None:
        connection.close()


POOL_CHECK_SECONDS = 1.0
_watch = Worker("engram-db-pool-check")
_watch_lock = threading.Lock()
_watch_pid: int | None = None


def pool_watch_start() -> None:
    """Check this process's idle pooled connections every POOL_CHECK_SECONDS (psycopg_pool's `check()`: broken
    ones are dropped and replaced). Once per process (a forked child starts its own); nothing without a pool."""
    global _watch_pid
    if not pooled():
        return
    with _watch_lock:
        if _watch_pid == os.getpid():
            return
        _watch_pid = os.getpid()
    _watch.submit(_check_forever)


def _check_forever() -> None:
    while not _watch.stopping:
        time.sleep(POOL_CHECK_SECONDS)
        pool = getattr(connection, "pool", None)  # the PostgreSQL backend's (lib.dbpool.pooled)
        if pool is None or pool.closed:  # not opened yet: nothing borrowed so far
            continue
        try:
            pool.check()
        except Exception:  # the database is away: the pool's own reconnection takes over
            logger.debug("checking the pooled connections failed", exc_info=True)
