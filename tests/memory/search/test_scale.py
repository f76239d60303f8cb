"""Search over big agents: the text side reads a bounded number of matches, and passages inserted one by one
through the API are found by text at once and by meaning soon after (embedded in background batches)."""

import datetime as dt
import time
from typing import Any

import pytest
from django.db import connection

from lib.ids import public_id
from memory.models import Passage
from memory.search import passage_search
from memory.search.text import _common_lexeme_cache
from memory.services.passages import PassageInput
from tests.memory.conftest import BASE


@pytest.fixture(autouse=True)
def _fresh_common_words() -> Any:
    """Which words are common is cached per process: what these tests make common must not leak into other tests."""
    _common_lexeme_cache._items.clear()
    yield
    _common_lexeme_cache._items.clear()


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
    hits = passage_search(agent=agent_a, query="otter", mode="text", top_k=20)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE memory_passage")  # the planner's statistics tell which words are common
        _common_lexeme_cache._items.clear()
        hits = passage_search(agent=agent_a, query="otter", mode="text", top_k=20)
        # "otter" is in every row: only the newest TEXT_MATCHES matches were read and ranked.
        assert {hit.passage.id for hit in hits} == newest
    else:
        # SQLite ranks every match (FTS5): the rows that repeat the word come first.
        assert len(hits) == 20
        assert hits[0].passage.text == "otter otter otter"
    # A rarer word in the query gathers by that word alone, whatever the common one matches.
    [hit] = passage_search(agent=agent_a, query="otter hazel", mode="text", top_k=1)
    assert hit.passage.text == "otter beside the hazel river"


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
