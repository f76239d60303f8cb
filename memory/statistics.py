"""Fresh planner statistics after large writes (PostgreSQL).

Autovacuum analyzes a table only once a tenth of it has changed, and looks once a minute. Right after a large
import the planner still believes the importing agent has a handful of rows, and picks sorts where the indexes
would do (docs/benchmarks.md, "stale statistics"). So every `ENGRAM_ANALYZE_AFTER_ROWS` rows a process writes to
a table, it analyzes that table, in a thread of its own after the write has committed.
"""

import functools
import logging
import threading
from collections import defaultdict

from django.conf import settings
from django.db import DatabaseError, connection, connections

from lib.background import Worker

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_written: defaultdict[str, int] = defaultdict(int)


_analyzer = Worker("engram-analyze")


def rows_written(table: str, count: int) -> Worker | None:
    """Count `count` new rows of `table` (call after commit); returns the worker that analyzes it, if it was
    handed the table."""
    threshold = settings.ENGRAM_ANALYZE_AFTER_ROWS
    if connection.vendor != "postgresql" or not threshold:
        return None
    with _lock:
        _written[table] += count
        if _written[table] < threshold:
            return None
        _written[table] = 0
    _analyzer.submit(functools.partial(_analyze, table))
    return _analyzer


def _analyze(table: str) -> None:
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(table)}")
    except DatabaseError:
        logger.warning("could not analyze %s", table, exc_info=True)
    finally:
        connections.close_all()  # this thread's connection (back to the pool)
