from typing import Any

from django.db import connection

from memory.ddl import ensure_search_schema
from memory.search import passage_search
from memory.services.passages import passage_insert


def test_text_search_follows_writes_after_a_table_rebuild(agent_a: Any) -> None:
    passage_insert(agent=agent_a, text="before the rebuild: lighthouse")
    if connection.vendor == "sqlite":
        # Django rebuilds SQLite tables on some schema changes, which drops the FTS5 triggers.
        # (PostgreSQL's generated tsvector column survives any ALTER, so there is nothing to drop.)
        with connection.cursor() as cursor:
            for suffix in ("ai", "ad", "au"):
                cursor.execute(f"DROP TRIGGER memory_passage_fts_{suffix}")
                cursor.execute(f"DROP TRIGGER memory_passage_ver_{suffix}")
    ensure_search_schema(connection)
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'memory_passage_%'")
            assert cursor.fetchone()[0] == 6
    passage_insert(agent=agent_a, text="after the rebuild: lighthouse keeper")
    hits = passage_search(agent=agent_a, query="lighthouse", mode="text")
    assert len(hits) == 2


def test_it_is_a_no_op_when_the_schema_is_intact(agent_a: Any) -> None:
    ensure_search_schema(connection)
    passage_insert(agent=agent_a, text="stable lighthouse")
    assert len(passage_search(agent=agent_a, query="lighthouse", mode="text")) == 1
