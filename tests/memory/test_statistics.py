"""Large writes refresh the planner's statistics on PostgreSQL (memory/statistics.py)."""

import os
import time
from collections import defaultdict

import pytest
from django.db import connection, transaction

from memory import statistics
from memory.models import Passage
from memory.services.passages import PassageInput, passage_insert_many
from memory.statistics import rows_written
from tests.factories import make_agent

pytestmark = pytest.mark.django_db(transaction=True)  # the analyzing thread sees committed rows only


def planner_rows() -> float:
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = 'memory_passage'")
        return float(cursor.fetchone()[0])


def test_every_so_many_written_rows_the_table_is_analyzed(alice, settings, monkeypatch) -> None:
    monkeypatch.setattr(statistics, "_written", defaultdict(int))  # rows other tests wrote do not count here
    settings.ENGRAM_ANALYZE_AFTER_ROWS = 30
    settings.ENGRAM_EMBED_INLINE_MAX = 1_000
    if connection.vendor != "postgresql":
        assert os.environ.get("ENGRAM_TEST_DB") == "sqlite"
        assert rows_written("memory_passage", 1_000) is None  # SQLite keeps no such statistics to go stale
        return
    agent = make_agent(alice, name="stats")

    def write(count: int) -> None:
        with transaction.atomic():
            passage_insert_many(agent=agent, items=[PassageInput(text=f"note {i}") for i in range(count)])

    write(20)  # below the threshold: statistics are left to autovacuum
    before = planner_rows()
    assert before != Passage.objects.count()
    write(20)  # 40 rows written since the last analysis: the table is analyzed in the background
    deadline = time.monotonic() + 10
    while planner_rows() != Passage.objects.count() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert planner_rows() == Passage.objects.count() == 40
