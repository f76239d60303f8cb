"""Search over big agents: the text side reads a bounded number of matches (on both databases), and passages
inserted one by one through the API are found by text at once and by meaning soon after (embedded in background
batches)."""

import datetime as dt
import json
import math
import time
from typing import Any

import pytest
from django.db import connection

from lib.ids import public_id
from memory.models import Passage
from memory.search import BM25_B, BM25_K1, passage_search
from memory.search.text import _common_lexeme_cache, _sqlite_vocabulary, _term_counts, _term_rows_cache
from memory.services.passages import PassageInput
from tests.memory.conftest import BASE


@pytest.fixture(autouse=True)
def _fresh_common_words() -> Any:
    """Which words are common is cached per process: what these tests make common must not leak into other tests."""
    _common_lexeme_cache._items.clear()
    _term_rows_cache._items.clear()
    yield
    _common_lexeme_cache._items.clear()
    _term_rows_cache._items.clear()


def _analyze() -> None:
    """PostgreSQL tells common words by the planner's statistics; SQLite counts them in its FTS5 index."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE memory_passage")


def test_a_query_of_only_common_words_ranks_the_newest_matches(agent_a: Any, insert: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr("memory.search.text.TEXT_MATCHES", 10)
    # Every row holds "otter"; the oldest rows hold it most often, so ranking every match would put them first.
    old = [PassageInput(text="otter otter otter", created_at=BASE + dt.timedelta(minutes=i)) for i in range(10)]
    new = [
        PassageInput(text=f"otter beside the {word} river", created_at=BASE + dt.timedelta(days=1, minutes=i))
        for i, word in enumerate(["alder", "birch", "cedar", "larch", "maple", "rowan", "aspen", "hazel", "yew", "fir"])
    ]
    insert(agent_a, old + new)
    newest = {p.id for p in Passage.objects.filter(agent=agent_a, created_at__gte=BASE + dt.timedelta(days=1))}
    _analyze()
    hits = passage_search(agent=agent_a, query="otter", mode="text", top_k=20)
    # "otter" is in every row: only the newest TEXT_MATCHES matches were read and ranked, on both databases.
    assert {hit.passage.id for hit in hits} == newest
    # A rarer word that no row holds gathers nothing: the common word gathers instead.
    hits = passage_search(agent=agent_a, query="otter nightingale", mode="text", top_k=20)
    assert {hit.passage.id for hit in hits} == newest
    # A rarer word in the query gathers by that word alone, whatever the common one matches.
    [hit] = passage_search(agent=agent_a, query="otter hazel", mode="text", top_k=1)
    assert hit.passage.text == "otter beside the hazel river"


def test_a_word_in_every_row_still_returns_the_best_rows_of_those_read(
    agent_a: Any, insert: Any, monkeypatch: Any
) -> None:
    monkeypatch.setattr("memory.search.text.TEXT_MATCHES", 12)
    # 30 rows hold "otter"; the 18 oldest hold it most often, but only the newest 12 matches are read.
    old = [f"otter otter otter otter {tree}" for tree in ["oak", "ash", "elm", "yew", "fir", "box"] * 3]
    old[4] = "otter otter otter otter kingfisher"  # a rarer word, in an old row
    # (No stop words: PostgreSQL leaves them out of a row's length, FTS5 counts them.)
    new = [f"otter swims past {n} {tree} trees" for n, tree in enumerate(["alder", "birch", "cedar"] * 4)]
    new[5] = "otter otter"  # the best of the rows read: short, the word twice
    new[9] = "otter otter weir rapids"
    insert(agent_a, [PassageInput(text=t, created_at=BASE + dt.timedelta(minutes=i)) for i, t in enumerate(old + new)])
    _analyze()
    hits = passage_search(agent=agent_a, query="otter", mode="text", top_k=20)
    assert [hit.passage.text for hit in hits][:2] == ["otter otter", "otter otter weir rapids"]
    assert {hit.passage.text for hit in hits} == set(new)
    # The same BM25 on both databases: N = the agent's 30 rows; the word is common (in every row of the table), so
    # its df is at least its share of the table × N; avgdl over the rows read.
    avgdl = sum(len(t.split()) for t in new) / len(new)
    idf = math.log(1 + (30 - 30 + 0.5) / (30 + 0.5))

    def bm25(text: str) -> float:
        tf = text.split().count("otter")
        return idf * tf * (BM25_K1 + 1) / (tf + BM25_K1 * (1 - BM25_B + BM25_B * len(text.split()) / avgdl))

    assert [hit.score for hit in hits] == pytest.approx([bm25(hit.passage.text) for hit in hits])
    # A rarer word is gathered by itself, wherever its row is: the bound applies to the common word only.
    [hit] = passage_search(agent=agent_a, query="otter kingfisher", mode="text", top_k=1)
    assert hit.passage.text == "otter otter otter otter kingfisher"


@pytest.mark.django_db(transaction=True)
def test_passages_inserted_one_by_one_through_the_api_are_found_by_text_at_once_then_by_meaning(
    agent_a: Any, alice_api: Any, settings: Any
) -> None:
    settings.REDIS_URL = ""  # the embedded profile: this process embeds in its background thread
    path = f"/v1/agents/{public_id('agent', agent_a.id)}/archival-memory"
    texts = [f"note {i}: the heron nests by lake number{i}x" for i in range(12)]
    for i, text in enumerate(texts):
        response = alice_api.post(path, {"text": text}, format="json")
        assert response.status_code == 200, response.content
        [hit] = passage_search(agent=agent_a, query=f"number{i}x", mode="text", top_k=1)
        assert hit.passage.text == text
    deadline = time.monotonic() + 120
    while Passage.objects.filter(agent=agent_a, embedding__isnull=True).exists():
        assert time.monotonic() < deadline, "the passages were never embedded"
        time.sleep(0.05)
    hits = passage_search(agent=agent_a, query="where does the heron nest?", mode="vector", top_k=12)
    assert {hit.passage.text for hit in hits} == set(texts)


def test_term_counts_read_from_a_rows_text_are_those_of_the_index(agent_a: Any, insert: Any) -> None:
    texts = [
        "Otter—otter, OTTER's den; otters' otter_holt (otter)",
        "naïve Naive NAÏVE café's cafe\u0301 resume résumé",
        "Running runs ran [run] run-run run\u2019s e-mail E_MAIL email",
        "otter",
    ]
    insert(agent_a, texts)
    hits = passage_search(agent=agent_a, query="otter", mode="text", top_k=5)
    assert [hit.passage.text for hit in hits][0] == texts[0]
    if connection.vendor == "sqlite":
        # SQLite counts a candidate's terms by indexing its text again in a temporary FTS5 table with the index's
        # tokenizer: the counts must be the FTS5 index's own.
        with connection.cursor() as cursor:
            _sqlite_vocabulary(cursor, "memory_passage_fts")
            cursor.execute(
                "CREATE VIRTUAL TABLE IF NOT EXISTS temp.check_instance "
                "USING fts5vocab(main, memory_passage_fts, 'instance')"
            )
            cursor.execute("SELECT doc, term, count(*) FROM temp.check_instance GROUP BY doc, term")
            index: dict[int, dict[str, int]] = {}
            for doc, term, count in cursor.fetchall():
                index.setdefault(doc, {})[term] = count
            cursor.execute("SELECT rowid FROM memory_passage")
            rowids = json.dumps([rowid for (rowid,) in cursor.fetchall()])
            counted = _term_counts(
                cursor, "memory_passage", rowids, sorted({t for terms in index.values() for t in terms})
            )
        assert counted == index
        assert index[min(index)]["otter"] == 6
