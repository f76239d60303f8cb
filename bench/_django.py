"""Run a benchmark against a throwaway test database (PostgreSQL + pgvector started by tests.backing, or a
SQLite file), with the project's own settings and migrations."""

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


@contextmanager
def test_database(db: str, keep: bool = False) -> Iterator[None]:
    sys.path.insert(0, str(REPO))
    os.environ["ENGRAM_TEST_DB"] = db
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    settings.ENGRAM_EMBED_INLINE_MAX = 10**9  # embed in the writing thread: the benchmark times it
    name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False, keepdb=keep)
    try:
        yield
    finally:
        from django.db import connections

        connections.close_all()
        if not keep:  # --keep leaves the data for the next run
            if connection.vendor == "postgresql":
                # A server or thread the benchmark started may still hold a session; the database goes anyway.
                with connection._nodb_cursor() as cursor:
                    cursor.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                        "AND pid <> pg_backend_pid()",
                        [name],
                    )
            connection.creation.destroy_test_db(name, verbosity=0)


def database_url() -> str:
    """The database this process's Django uses, as a DATABASE_URL for a server serving the same data."""
    from django.db import connection

    db = connection.settings_dict
    if connection.vendor == "postgresql":
        return f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    return f"sqlite:///{db['NAME']}"
