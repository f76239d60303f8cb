"""Archival search: same contract and same tests on PostgreSQL and SQLite."""

import datetime as dt
import math
import random
import uuid
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from memory.models import Passage
from memory.search import BM25_B, BM25_COORD, BM25_K1, passage_search
from memory.services.passages import PassageInput, passage_delete, passage_insert
from tests.factories import make_agent
from tests.memory.conftest import BASE

MODES = ["hybrid", "vector", "text"]


@pytest.mark.parametrize("mode", MODES)
def test_it_applies_tag_filters_before_the_limit(agent_a: Any, insert: Any, mode: str) -> None:
    # 60 strong matches without the tag, then 6 weak matches with it: a filter after the limit finds none.
    items = [PassageInput(text=f"The garden has red roses, number {i}") for i in range(60)]
    items += [PassageInput(text=f"Note {i} about roses", tags=["keep", f"n{i}"]) for i in range(6)]
    insert(agent_a, items)
    hits = passage_search(agent=agent_a, query="red roses in the garden", mode=mode, tags=["keep"], top_k=5)
    assert len(hits) == 5
    assert all("keep" in hit.passage.tags for hit in hits)


def test_it_matches_all_or_any_tags(agent_a: Any, insert: Any) -> None:
    insert(
        agent_a,
        [
            PassageInput(text="apples and pears", tags=["fruit", "green"]),
            PassageInput(text="apples only", tags=["fruit"]),
            PassageInput(text="green apples", tags=["green"]),
            PassageInput(text="apples untagged"),
        ],
    )
    any_hits = passage_search(agent=agent_a, query="apples", tags=["fruit", "green"], tag_match_mode="any")
    all_hits = passage_search(agent=agent_a, query="apples", tags=["fruit", "green"], tag_match_mode="all")
    assert {h.passage.text for h in any_hits} == {"apples and pears", "apples only", "green apples"}
    assert [h.passage.text for h in all_hits] == ["apples and pears"]


@pytest.mark.parametrize("mode", MODES)
def test_it_honours_the_date_range(agent_a: Any, insert: Any, mode: str) -> None:
    items = [
        PassageInput(text=f"Trip to Paris, day {day}", created_at=BASE + dt.timedelta(days=day)) for day in range(30)
    ]
    insert(agent_a, items)
    start, end = BASE + dt.timedelta(days=10), BASE + dt.timedelta(days=14)
    hits = passage_search(agent=agent_a, query="trip to Paris", mode=mode, start=start, end=end, top_k=50)
    assert len(hits) == 5
    assert all(start <= hit.passage.created_at <= end for hit in hits)


def test_hybrid_finds_an_exact_uuid_that_vector_search_misses(agent_a: Any, insert: Any) -> None:
    rng = random.Random(4)
    words = ["alpha", "blue", "cedar", "delta", "ember", "fjord", "grove", "harbor", "iris", "jade"]
    keys = [uuid.UUID(int=rng.getrandbits(128), version=4) for _ in range(140)]
    insert(agent_a, [f"key {key} has value {rng.choice(words)}-{rng.randrange(1000)}" for key in keys])
    target = keys[77]
    query = f"What is the value of key {target}?"

    hybrid = passage_search(agent=agent_a, query=query, mode="hybrid", top_k=5)
    vector = passage_search(agent=agent_a, query=query, mode="vector", top_k=5)

    assert str(target) in hybrid[0].passage.text
    assert str(target) not in vector[0].passage.text


def test_a_passage_is_findable_by_text_before_it_is_embedded(agent_a: Any) -> None:
    passage_insert(agent=agent_a, text="The wifi password is hunter2")  # commit callbacks never run here
    assert Passage.objects.get().embedding is None
    assert passage_search(agent=agent_a, query="wifi password", mode="text")[0].passage.text.startswith("The wifi")
    assert passage_search(agent=agent_a, query="wifi password", mode="hybrid")[0].passage.text.startswith("The wifi")
    assert passage_search(agent=agent_a, query="wifi password", mode="vector") == []


def test_it_never_returns_other_agents_or_organizations_passages(
    alice: Any, charlie: Any, agent_a: Any, insert: Any
) -> None:
    sibling = make_agent(alice, name="sibling")
    outsider = make_agent(charlie, name="charlie-agent")
    for agent in (agent_a, sibling, outsider):
        insert(agent, [PassageInput(text=f"shared secret about rockets {i}", tags=["t"]) for i in range(8)])
    mine = set(Passage.objects.filter(agent=agent_a).values_list("id", flat=True))
    for mode in MODES:
        for kwargs in ({}, {"tags": ["t"]}, {"start": BASE - dt.timedelta(days=1)}):
            hits = passage_search(agent=agent_a, query="shared secret rockets", mode=mode, top_k=50, **kwargs)
            assert len(hits) == 8
            assert {hit.passage.id for hit in hits} <= mine


def test_pagination_with_offset(agent_a: Any, insert: Any) -> None:
    insert(agent_a, [f"pebble {i} on the beach" for i in range(12)])
    everything = [h.passage.id for h in passage_search(agent=agent_a, query="pebble beach", top_k=12)]
    pages = [
        [h.passage.id for h in passage_search(agent=agent_a, query="pebble beach", top_k=5, offset=offset)]
        for offset in (0, 5, 10)
    ]
    assert [len(p) for p in pages] == [5, 5, 2]
    assert sum(pages, []) == everything


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"query": ""}, "query"),
        ({"query": "   "}, "query"),
        ({"query": "x" * 10_001}, "query"),
        ({"query": "ok", "tags": "not-a-list"}, "tags"),
        ({"query": "ok", "tags": [1, 2]}, "tags"),
        ({"query": "ok", "mode": "fuzzy"}, "mode"),
        ({"query": "ok", "top_k": 0}, "top_k"),
        ({"query": "ok", "top_k": 10_000}, "top_k"),
        ({"query": "ok", "offset": -1}, "offset"),
        ({"query": "ok", "tag_match_mode": "some"}, "tag_match_mode"),
        ({"query": "ok", "start": "2024-01-01"}, "start"),
    ],
)
def test_bad_search_input_is_a_validation_error(agent_a: Any, kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as excinfo:
        passage_search(agent=agent_a, **kwargs)
    assert field in excinfo.value.message_dict


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"text": ""}, "text"),
        ({"text": "x" * 100_001}, "text"),
        ({"text": "ok", "tags": "solo"}, "tags"),
        ({"text": "ok", "tags": [1]}, "tags"),
        ({"text": "ok", "tags": [""]}, "tags"),
        ({"text": "ok", "metadata": ["no"]}, "metadata"),
        ({"text": "ok", "created_at": dt.datetime(2024, 1, 1)}, "created_at"),  # noqa: DTZ001
    ],
)
def test_bad_insert_input_writes_nothing(agent_a: Any, kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as excinfo:
        passage_insert(agent=agent_a, **kwargs)
    assert field in excinfo.value.message_dict
    assert Passage.objects.count() == 0


def test_a_bad_item_in_a_bulk_insert_writes_nothing(agent_a: Any, insert: Any) -> None:
    with pytest.raises(ValidationError):
        insert(agent_a, [PassageInput(text="fine"), PassageInput(text="bad", tags=[3])])  # type: ignore[list-item]
    assert Passage.objects.count() == 0


def test_deleted_passages_leave_every_index(agent_a: Any, insert: Any) -> None:
    first, _second = insert(agent_a, ["zebra crossing", "zebra stripes"])
    passage_delete(passage=first)
    for mode in MODES:
        assert [h.passage.text for h in passage_search(agent=agent_a, query="zebra crossing", mode=mode)] == [
            "zebra stripes"
        ]


def test_text_ranking_is_bm25_over_the_agents_own_rows(agent_a: Any, insert: Any, alice: Any) -> None:
    texts = ["otter otter otter", "otter heron", "heron", "otter heron maple cedar pine birch alder rowan"]
    fillers = [f"maple cedar pine {word}" for word in ("birch", "alder", "rowan", "larch", "aspen", "willow")]
    insert(agent_a, texts + fillers)
    # Another agent's rows full of the query words change neither the order nor the scores.
    insert(make_agent(alice, name="other"), ["otter"] * 30 + ["heron heron"] * 30)
    hits = passage_search(agent=agent_a, query="otter heron", mode="text", top_k=10)
    ranked = [hit.passage.text for hit in hits]
    # A short row beats a long one with the same words; more occurrences beat fewer.
    assert ranked[0] == "otter heron"
    assert ranked.index("otter otter otter") < ranked.index("heron")
    assert set(ranked) == set(texts)
    # The exact BM25 score (both databases): N = the agent's rows, df and the average length over the rows that match;
    # × the share of the query's words the row holds ** BM25_COORD.
    lengths = {text: len(text.split()) for text in texts}
    avgdl = sum(lengths.values()) / len(texts)
    total = len(texts) + len(fillers)
    df = {word: sum(1 for text in texts if word in text.split()) for word in ("otter", "heron")}

    def bm25(text: str, b: float = BM25_B, coord: float = BM25_COORD) -> float:
        score, held = 0.0, 0
        for word in ("otter", "heron"):
            tf = text.split().count(word)
            if tf:
                held += 1
                idf = math.log(1 + (total - df[word] + 0.5) / (df[word] + 0.5))
                norm = BM25_K1 * (1 - b + b * lengths[text] / avgdl)
                score += idf * tf * (BM25_K1 + 1) / (tf + norm)
        return score * (held / 2) ** coord

    assert [hit.score for hit in hits] == pytest.approx([bm25(hit.passage.text) for hit in hits])
    # Even without coordination the long row ranks second with b = 0.3; with the textbook b = 0.75 (FTS5's built-in
    # bm25()) it would rank last.
    assert BM25_B == 0.3
    assert ranked == sorted(texts, key=bm25, reverse=True)
    assert ranked == sorted(texts, key=lambda text: bm25(text, coord=0.0), reverse=True)
    assert ranked != sorted(texts, key=lambda text: bm25(text, 0.75, coord=0.0), reverse=True)


def test_bm25_measures_long_rows_exactly(agent_a: Any, insert: Any) -> None:
    # Rows of thousands of words (a file chunk, a pasted document): each row's length and its count of the query
    # word enter BM25 exactly, on both databases.
    rng = random.Random(7)
    # A broad vocabulary, as prose has: PostgreSQL keeps at most 256 positions of one word in a row.
    filler = [f"tree{n}" for n in range(2000)]
    texts = []
    for words, otters in ((40, 1), (900, 5), (2500, 12), (4000, 3), (6000, 40)):
        body = [rng.choice(filler) for _ in range(words - otters)] + ["otter"] * otters
        rng.shuffle(body)
        texts.append(" ".join(body))
    insert(agent_a, texts)
    hits = passage_search(agent=agent_a, query="otter", mode="text", top_k=10)
    lengths = {text: len(text.split()) for text in texts}
    avgdl = sum(lengths.values()) / len(texts)
    idf = math.log(1 + 0.5 / (len(texts) + 0.5))  # every row holds the word: df = N

    def bm25(text: str) -> float:
        tf = text.split().count("otter")
        return idf * tf * (BM25_K1 + 1) / (tf + BM25_K1 * (1 - BM25_B + BM25_B * lengths[text] / avgdl))

    assert len(hits) == len(texts)
    assert [hit.score for hit in hits] == pytest.approx([bm25(hit.passage.text) for hit in hits], rel=1e-6)
