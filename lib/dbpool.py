"""Pooled database connections around slow waits.

With a connection pool (PostgreSQL, `DB_POOL_SIZE`) a thread holds its connection from its first query until its
request or task ends. A thread that then waits a long time without the database (a run's LLM call, a request
waiting for its run to end) would keep a connection idle while other threads queue for one, and with more
waiting threads than `DB_POOL_SIZE` they fail after the pool's timeout. `connection_release()` hands the
connection back for the wait; the next query borrows one again (a pool borrow, well under a millisecond)."""

from django.db import connection


def pooled() -> bool:
    """Does this process's default database use a connection pool?"""
    return bool(connection.settings_dict.get("OPTIONS", {}).get("pool"))


def connection_release() -> None:
    """Give this thread's pooled connection back before a wait that needs no database. Nothing happens without a
    pool (SQLite keeps its connection and page cache; a dropped PostgreSQL connection would cost a new session)
    or inside a transaction (the connection holds it)."""
    if pooled() and not connection.in_atomic_block and connection.connection is not None:
        connection.close()
