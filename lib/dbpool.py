"""Database connections: pooled connections handed back around slow waits, and what a lost database looks like.

With a connection pool (PostgreSQL, `DB_POOL_SIZE`) a thread holds its connection from its first query until its
request or task ends. A thread that then waits a long time without the database (a run's LLM call, a request
waiting for its run to end) would keep a connection idle while other threads queue for one, and with more
waiting threads than `DB_POOL_SIZE` they fail after the pool's timeout. `connection_release()` hands the
connection back for the wait; the next query borrows one again (a pool borrow, well under a millisecond).

A database that is restarting, unreachable or too busy to hand out a connection in time (`DB_POOL_TIMEOUT`)
raises a connection-class error (SQLite: busy or locked past its timeout, or a file it cannot open). That is a
moment's outage, not a bug: `database_unavailable` tells it from the request's own failures (a bad statement, a
statement timeout), the API and the ADE answer 503 with `Retry-After`, and a run's holder waits for the database
(`database_wait`) and claims the run again as soon as it answers. Nothing reconnects by hand: the pool checks a
connection before lending it (`CONN_HEALTH_CHECKS`) and opens new ones once the server answers again. A watch of
the pool (`pool_watch_start`) checks the idle connections every second, replacing the broken ones right after a
restart before a borrower meets them (psycopg_pool waits 1, 2, 4… s between failed checks in a borrower's
getconn), and while borrowers wait it asks the pool for a new connection five times a second (the pool's own
attempts gave up while the server was away). A forked process (Celery's prefork pool processes) never uses a pool
it inherited (`_forget_inherited_pools`)."""

import contextlib
import logging
import os
import sqlite3
import sys
import threading
import time

from django.db import InterfaceError, OperationalError, connection

from lib.background import Worker, after_fork_in_child

logger = logging.getLogger(__name__)

# What a client is told to wait before sending again (seconds): about what a PostgreSQL restart takes.
RETRY_AFTER_SECONDS = 3
UNAVAILABLE_DETAIL = (
    "The database is unavailable right now (restarting, unreachable, or busy with other writes). "
    f"Try again in {RETRY_AFTER_SECONDS} seconds."
)


class DatabaseBusy(OperationalError):
    """A wait of our own for the database ran out (lib.sqlite: a write turn behind other writers): out of reach."""


# PostgreSQL's SQLSTATEs of a server out of reach: class 08 (connection exception), 57P01–57P05 (admin or crash
# shutdown, cannot connect now: starting or stopping, database dropped, idle-session timeout), 53300 (too many
# connections). Its other OperationalErrors (a statement timeout 57014, a lock not available 55P03, a deadlock,
# disk full) are the request's own failure.
_PG_AWAY_PREFIXES = ("08", "57P0", "53300")
# SQLite's result codes of a file busy with another writer past the busy timeout, or not openable.
_SQLITE_AWAY_CODES = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_CANTOPEN})


def database_unavailable(exc: BaseException) -> bool:
    """Is `exc` the database being out of reach for a moment (a 503 to retry), rather than a bug (a 500)? Only
    connection-class failures are: PostgreSQL unreachable, restarting, shutting connections down or out of
    connections, psycopg_pool's wait for a connection running out; SQLite busy or locked past its timeout, or a
    file it cannot open. A bad statement, a constraint, a statement timeout are not, on either database.
    Takes Django's wrapped errors (the driver's error is their `__cause__`) and the drivers' own."""
    if isinstance(exc, DatabaseBusy):
        return True
    if isinstance(exc, OperationalError | InterfaceError):
        driver = exc.__cause__
        if driver is None:
            # Raised by Django itself, not by a driver: "connection already closed" is an InterfaceError.
            return isinstance(exc, InterfaceError)
        return _driver_away(driver)
    return _driver_away(exc)


def _driver_away(exc: BaseException) -> bool:
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        return code is not None and code & 0xFF in _SQLITE_AWAY_CODES  # extended codes keep the primary in 8 bits
    try:
        import psycopg
    except ImportError:  # SQLite only: psycopg is not installed
        return False
    if not isinstance(exc, psycopg.Error):
        return False
    if exc.sqlstate:
        return exc.sqlstate.startswith(_PG_AWAY_PREFIXES)
    # No SQLSTATE: the client library's own error, never the server's answer to a statement: the connection was
    # refused, lost or closed, or psycopg_pool gave up waiting for one (PoolTimeout, PoolClosed, TooManyRequests).
    return isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError)


def pooled() -> bool:
    """Does this process's default database use a connection pool?"""
    return bool(connection.settings_dict.get("OPTIONS", {}).get("pool"))


def connection_release() -> None:
    """Give this thread's pooled connection back before a wait that needs no database. Nothing happens without a
    pool (SQLite keeps its connection and page cache; a dropped PostgreSQL connection would cost a new session)
    or inside a transaction (the connection holds it)."""
    if pooled() and not connection.in_atomic_block and connection.connection is not None:
        connection.close()


POOL_CHECK_SECONDS = 1.0  # every idle pooled connection is checked this often
POOL_WATCH_SECONDS = 0.2  # how often the watch looks for borrowers left waiting (then the pool grows at once)
_watch = Worker("engram-db-pool-check")
_watch_lock = threading.Lock()
_watch_pid: int | None = None


def pool_watch_start() -> None:
    """Watch this process's pool: every POOL_CHECK_SECONDS check its idle connections (psycopg_pool's `check()`:
    broken ones are dropped and replaced), and every POOL_WATCH_SECONDS, when borrowers are waiting for a
    connection, ask it to open one now (after a restart its earlier attempts failed and gave up). Once per process
    (a forked child starts its own); nothing without a pool."""
    global _watch_pid
    if not pooled():
        return
    with _watch_lock:
        if _watch_pid == os.getpid():
            return
        _watch_pid = os.getpid()
    _watch.submit(_watch_forever)


def _watch_forever() -> None:
    checked = time.monotonic()
    while not _watch.stopping:
        time.sleep(POOL_WATCH_SECONDS)
        pool = getattr(connection, "pool", None)  # the PostgreSQL backend's (lib.dbpool.pooled)
        if pool is None or pool.closed:  # not opened yet: nothing borrowed so far
            continue
        now = time.monotonic()
        if now - checked < POOL_CHECK_SECONDS and not pool.get_stats().get("requests_waiting"):
            continue
        checked = now
        try:
            pool.check()  # psycopg_pool's check() also starts one more connection (up to DB_POOL_SIZE)
        except Exception:  # the database is away: the pool's own reconnection takes over
            logger.debug("checking the pooled connections failed", exc_info=True)


WAIT_STEP_SECONDS = 0.2


def database_wait(*, until: float) -> bool:
    """Wait until this process's default database answers again, at most until `until` (time.monotonic()); True
    once it does. PostgreSQL: a connection of its own every WAIT_STEP_SECONDS, not through the pool (a borrower
    there waits up to DB_POOL_TIMEOUT), then the pool is asked to open connections at once. SQLite (busy or
    locked past its timeout): one short pause for the writer ahead to finish."""
    if connection.vendor != "postgresql":
        pause = min(1.0, until - time.monotonic())
        if pause <= 0:
            return False
        time.sleep(pause)
        return True
    import psycopg

    params = {**connection.get_connection_params(), "connect_timeout": 2, "autocommit": True}
    while True:
        try:
            with psycopg.connect(**params) as probe:
                probe.execute("SELECT 1")
        except psycopg.Error:
            if time.monotonic() + WAIT_STEP_SECONDS > until:
                return False
            time.sleep(WAIT_STEP_SECONDS)
            continue
        pool = getattr(connection, "pool", None)
        if pool is not None and not pool.closed:
            with contextlib.suppress(Exception):
                pool.check()  # drops connections the outage broke, and starts new ones now
        return True


# Pools a forked child found in its parent's registry: kept referenced, never used or closed (below).
_inherited_pools: list[object] = []


def _forget_inherited_pools() -> None:
    """In a forked child: the parent's open pools are not this process's. A Celery prefork pool process that
    replaces one that died (an OOM kill, a hard time limit) is forked after the worker's own threads (the sweeps,
    the lease renewals) opened its pool: the idle connections it inherits are the worker's sockets (a query from
    here would interleave with the worker's on the same session), the pool's maintenance threads did not come
    across the fork, and Celery's Django fixup closes the pool it finds, ending the worker's sessions (seen: every
    idle connection of the worker's main process broken at once). Django's registry forgets them, so the child
    opens a pool of its own on first use, and they stay referenced here: finalizing them would end those
    sessions too."""
    backend = sys.modules.get("django.db.backends.postgresql.base")
    if backend is None:  # never imported: no pool
        return
    pools = backend.DatabaseWrapper._connection_pools
    _inherited_pools.extend(pools.values())
    pools.clear()


after_fork_in_child(_forget_inherited_pools)
