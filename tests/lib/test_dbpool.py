"""`lib.dbpool.database_unavailable`: which database errors mean "the database is away for a moment" (a 503 with
Retry-After, a run claimed again once it is back) and which are the request's own failure (a 500, a run failed at
once). Real databases, real errors, through Django's own connection wrappers as the server gets them: a SQLite file
of the test's own and a PostgreSQL cluster of the test's own that the test stops, whatever ENGRAM_TEST_DB says
(so the same test runs on both test databases)."""

import sqlite3
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from django.db import DatabaseError, OperationalError
from django.db.utils import ConnectionHandler

from lib.dbpool import DatabaseBusy, database_unavailable
from lib.sqlite.base import WriteTurn, _take
from tests.backing import PostgresCluster


def _raised(conn, sql: str) -> DatabaseError:
    with pytest.raises(DatabaseError) as caught, conn.cursor() as cursor:
        cursor.execute(sql)
    return caught.value


def _handler(name: str, settings: dict) -> ConnectionHandler:
    """Connections of the test's own, beside the session's (a pool is registered under its alias: not `default`)."""
    own = {"TIME_ZONE": None, "CONN_HEALTH_CHECKS": False, **settings}
    return ConnectionHandler({"default": {"ENGINE": "django.db.backends.dummy"}, name: own})


@pytest.fixture(autouse=True)
def own_databases(django_db_blocker):
    """The connections here are the test's own, not the session's test database: pytest-django may let them be."""
    with django_db_blocker.unblock():
        yield


@pytest.fixture
def sqlite_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="engram-dbpool-") as directory:
        yield Path(directory)


def test_sqlite_a_bad_statement_is_not_away_and_a_locked_or_unopenable_file_is(sqlite_dir):
    settings = {"ENGINE": "lib.sqlite", "NAME": str(sqlite_dir / "db.sqlite3"), "OPTIONS": {"timeout": 1}}
    conn = _handler("lite", settings)["lite"]
    try:
        with conn.cursor() as cursor:
            cursor.execute("CREATE TABLE notes (text TEXT)")
        # A bug: SQLite's OperationalError for a table that does not exist, or for bad syntax.
        for sql in ("SELECT * FROM no_such_table", "SELEC 1", "INSERT INTO notes (no_column) VALUES (1)"):
            error = _raised(conn, sql)
            assert isinstance(error, OperationalError), sql
            assert not database_unavailable(error), f"{sql!r} raised {error!r}, counted as the database away"

        # Another process holds the write lock past the busy timeout: SQLite's "database is locked".
        other = sqlite3.connect(sqlite_dir / "db.sqlite3", isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            locked = _raised(conn, "INSERT INTO notes (text) VALUES ('x')")
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert "locked" in str(locked) and database_unavailable(locked), repr(locked)
    finally:
        conn.close()

    # A file that cannot be opened (its directory is gone).
    missing = _handler("gone", {"ENGINE": "lib.sqlite", "NAME": str(sqlite_dir / "gone" / "db.sqlite3")})["gone"]
    error = _raised(missing, "SELECT 1")
    assert database_unavailable(error), repr(error)

    # This process's own writers queued past the timeout (lib.sqlite's write turn).
    turn = WriteTurn()
    assert turn.acquire(1)
    waited: list[BaseException] = []

    def second_writer():
        try:
            _take(turn, 0.1)
        except BaseException as exc:  # noqa: BLE001 (kept for the assertion)
            waited.append(exc)

    thread = threading.Thread(target=second_writer)
    thread.start()
    thread.join(10)
    assert len(waited) == 1 and isinstance(waited[0], DatabaseBusy) and database_unavailable(waited[0])


@pytest.fixture(scope="module")
def cluster() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster().start()
    yield cluster
    cluster.remove()


def _postgres(cluster: PostgresCluster, *, pool: bool) -> ConnectionHandler:
    options: dict = {"pool": {"min_size": 1, "max_size": 2, "timeout": 3, "reconnect_timeout": 1}} if pool else {}
    settings = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "postgres",
        "USER": "postgres",
        "HOST": "127.0.0.1",
        "PORT": str(cluster.port),
        "CONN_MAX_AGE": 0,
        "OPTIONS": options,
    }
    return _handler("pg", settings)


def test_postgres_a_failing_statement_is_not_away_and_a_stopped_server_is(cluster):
    pooled, direct = _postgres(cluster, pool=True)["pg"], _postgres(cluster, pool=False)["pg"]
    for conn in (pooled, direct):  # connected before anything is asserted: a slow first connect fails here, plainly
        with conn.cursor() as cursor:
            cursor.execute("SELECT 1")
    stopped = False
    try:
        # A statement the server refuses, and one it cancels (statement_timeout: an OperationalError, 57014).
        assert not database_unavailable(_raised(pooled, "SELECT * FROM no_such_table"))
        with pooled.cursor() as cursor:
            cursor.execute("SET statement_timeout = 50")
        cancelled = _raised(pooled, "SELECT pg_sleep(2)")
        assert isinstance(cancelled, OperationalError) and cancelled.__cause__.sqlstate == "57014"
        assert not database_unavailable(cancelled), repr(cancelled)
        with pooled.cursor() as cursor:
            cursor.execute("SET statement_timeout = 0")
        with direct.cursor() as cursor:
            cursor.execute("SELECT 1")

        cluster.stop("fast")  # both connections are cut: the server terminates its sessions
        stopped = True
        for conn in (pooled, direct):
            cut = _raised(conn, "SELECT 1")
            assert database_unavailable(cut), repr(cut)
            conn.close()
        # A new connection while the server is down: refused (direct), or the pool's wait runs out.
        for conn in (direct, pooled):
            refused = _raised(conn, "SELECT 1")
            assert database_unavailable(refused), repr(refused)
    finally:
        for conn in (pooled, direct):
            conn.close()
        pooled.close_pool()
        if stopped:
            cluster.start()

    # The server's SQLSTATEs of a connection-class failure, and others that are not (the drivers' own errors).
    for state in ("08006", "08001", "57P01", "57P02", "57P03", "53300"):
        assert database_unavailable(psycopg.errors.lookup(state)("x")), state
    for state in ("57014", "55P03", "40P01", "53100", "42601"):
        assert not database_unavailable(psycopg.errors.lookup(state)("x")), state
