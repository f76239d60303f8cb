"""Django's SQLite backend, with the writers of one process served in arrival order.

SQLite lets one connection write at a time. A connection that finds the write lock taken does not queue for it:
its busy handler sleeps and tries again, sleeping up to 100 ms between tries, until the busy timeout. With many
writers at once (the embedded profile at 200 agents: every request and every run writes) the lock is taken
again by whoever tries at the right moment, so some writer can lose every try for the whole timeout and answer
"database is locked" (a 500 before this), even though the lock was free many times meanwhile; and every
sleeping writer that wakes to try again competes for the GIL with the one holding the lock.

Here a process's writers queue for its write turn (`WriteTurn`: first come, first served, the turn handed
straight to the next in line) before they ask SQLite, so within the process SQLite's lock is never contended and
a writer waits only for the writers ahead of it. A write turn is taken by a transaction (`BEGIN IMMEDIATE`, every
`atomic()` block: `transaction_mode`) until its commit or rollback, and by a single writing statement outside a
transaction for that statement. Reads never wait (WAL). Other processes on the same file (a management command)
still meet SQLite's busy handler, and the wait for a turn is bounded by the same `timeout` option: past it the
writer gets SQLite's own error, `OperationalError("database is locked")` (the API answers 503, lib.dbpool).
"""

import collections
import contextlib
import functools
import threading
import time
from collections.abc import Iterator
from typing import Any

from django.db.backends.sqlite3 import base as sqlite

from lib.dbpool import DatabaseBusy

_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER")
_DEFAULT_TIMEOUT = 5.0  # the sqlite3 module's own default


class WriteTurn:
    """A lock handed to its waiters in arrival order. Not owned by a thread: a connection shared between threads
    (Django's test live server) takes it in one and may give it back in another."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._held = False
        self._queue: collections.deque[threading.Event] = collections.deque()

    def acquire(self, timeout: float) -> bool:
        with self._mutex:
            if not self._held:
                self._held = True
                return True
            turn = threading.Event()
            self._queue.append(turn)
        if turn.wait(timeout):
            return True
        with self._mutex:
            if turn.is_set():  # handed over just as the wait ended
                return True
            self._queue.remove(turn)
            return False

    def release(self) -> None:
        with self._mutex:
            if self._queue:
                self._queue.popleft().set()  # still held: now by the next in line
            else:
                self._held = False


_turns: dict[str, WriteTurn] = {}
_turns_mutex = threading.Lock()


def write_turn(name: str) -> WriteTurn:
    """The write turn of one database file in this process."""
    with _turns_mutex:
        return _turns.setdefault(name, WriteTurn())


def _take(turn: WriteTurn, timeout: float) -> None:
    started = time.monotonic()
    if not turn.acquire(timeout):
        waited = time.monotonic() - started
        raise DatabaseBusy(f"database is locked (waited {waited:.0f} s for a write behind other writers)")


def _is_write(sql: str) -> bool:
    return sql.lstrip()[:8].upper().startswith(_WRITES)


class CursorWrapper(sqlite.SQLiteCursorWrapper):
    """A writing statement outside a transaction takes the write turn while it runs (inside one, the transaction
    holds it)."""

    def __init__(self, connection: Any, turn: WriteTurn, timeout: float) -> None:
        super().__init__(connection)
        self._turn = turn
        self._timeout = timeout

    @contextlib.contextmanager
    def _turn_for(self, query: str) -> Iterator[None]:
        if self.connection.in_transaction or not _is_write(query):
            yield
            return
        _take(self._turn, self._timeout)
        try:
            yield
        finally:
            self._turn.release()

    def execute(self, query: str, params: Any = None) -> Any:
        with self._turn_for(query):
            return super().execute(query, params)

    def executemany(self, query: str, param_list: Any) -> Any:
        with self._turn_for(query):
            return super().executemany(query, param_list)


class DatabaseWrapper(sqlite.DatabaseWrapper):
    # The hooks overridden below are Django's backend API, but django-stubs declare none of them: [misc] ignores.
    _holds_turn = False

    @functools.cached_property
    def _turn(self) -> WriteTurn:
        return write_turn(str(self.settings_dict["NAME"]))

    @functools.cached_property
    def _turn_timeout(self) -> float:
        return float(self.settings_dict.get("OPTIONS", {}).get("timeout", _DEFAULT_TIMEOUT))

    def create_cursor(self, name: str | None = None) -> Any:
        factory = functools.partial(CursorWrapper, turn=self._turn, timeout=self._turn_timeout)
        return self.connection.cursor(factory=factory)

    def _start_transaction_under_autocommit(self) -> None:
        _take(self._turn, self._turn_timeout)
        self._holds_turn = True
        try:
            super()._start_transaction_under_autocommit()  # type: ignore[misc]
        except BaseException:
            self._give_back()
            raise

    def _give_back(self) -> None:
        if self._holds_turn:
            self._holds_turn = False
            self._turn.release()

    def _ended(self) -> None:
        # A COMMIT that failed leaves the transaction open: the turn stays until its rollback (or the close).
        if self.connection is None or not self.connection.in_transaction:
            self._give_back()

    def _commit(self) -> None:
        try:
            super()._commit()  # type: ignore[misc]
        finally:
            self._ended()

    def _rollback(self) -> None:
        try:
            super()._rollback()  # type: ignore[misc]
        finally:
            self._ended()

    def _close(self) -> None:
        try:
            super()._close()  # type: ignore[misc]
        finally:
            self._give_back()
