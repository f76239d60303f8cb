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
answers again."""

from django.db import InterfaceError, OperationalError, connection

# What a client is told to wait before sending again (seconds): about what a PostgreSQL restart takes.
RETRY_AFTER_SECONDS = 3
UNAVAILABLE_DETAIL = (
    "The database is unavailable right now (restarting, unreachable or overloaded). "
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
