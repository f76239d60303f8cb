"""Hybrid fusion beyond the two rankings: context, questions, episodes, and dates or times the query asks about
(both databases)."""

import datetime as dt
from typing import Any

import pytest

from memory.models import Passage
from memory.search import (
    COMMON_WORD_MIN_ROWS,
    Around,
    Fusion,
    add_context,
    asks_question,
    diversify,
    embedding_query,
    episode_boost,
    passage_search,
    scope_for,
    time_boost,
)
from memory.search.dates import DateWindow, asks_when, mentions_time, query_date_windows
from memory.services.passages import PassageInput
from tests.factories import make_agent

DAY1 = dt.datetime(2023, 5, 1, 9, 0, tzinfo=dt.UTC)


def test_it_lifts_the_episode_where_the_matches_gather() -> None:
    # One strong match alone on day 30; three slightly weaker ones written minutes apart on day 1.
    times = {"b1": DAY1 + dt.timedelta(days=30)}
    times |= {f"a{i}": DAY1 + dt.timedelta(minutes=5 * i) for i in range(1, 4)}
    ranked = [("b1", 1.0), ("a1", 0.95), ("a2", 0.9), ("a3", 0.85)]

    boosted = episode_boost(ranked, dict(times), Fusion(episode_weight=0.3, episode_top=2))
    # a1: 0.95 + 0.3 × (0.95 + 0.9) / 1.85 = 1.25; b1: 1.0 + 0.3 × 1.0 / 1.85 = 1.16; a3: 0.85 + 0.3 = 1.15.
    assert [pk for pk, _ in boosted] == ["a1", "a2", "b1", "a3"]
    assert episode_boost(ranked, dict(times), Fusion(episode_weight=0.0)) == ranked

    # Two hours apart with a one-hour gap: four episodes of one row each, and the order stays.
    apart = {pk: DAY1 + dt.timedelta(hours=2 * i) for i, (pk, _) in enumerate(ranked)}
    assert [pk for pk, _ in episode_boost(ranked, apart, Fusion(episode_gap=3600.0))] == ["b1", "a1", "a2", "a3"]


def test_context_reaches_two_rows_either_side() -> None:
    # Rows in time order: p2 p1 x n1 n2; only x is a candidate (the question); n2 holds the answer.
    around = {"x": Around(DAY1, prev="p1", prev2="p2", next="n1", next2="n2")}
    fusion = Fusion(context_prev=0.3, context_prev2=0.2, context_next=0.15, context_next2=0.05)
    scores, times = add_context([("x", 1.0)], around, fusion, depth=50)
    assert dict(scores) == {"x": 1.0, "n1": 0.3, "n2": 0.2, "p1": 0.15, "p2": 0.05}
    assert times == dict.fromkeys(["x", "n1", "n2", "p1", "p2"], DAY1)


def test_a_row_that_asks_passes_its_score_to_the_reply() -> None:
    # q asks "What did you paint?" and matches the query best; a, the reply after it, matches less.
    around = {
        "q": Around(DAY1, next="a", head='Sam said, "Nice! What did you paint?"'),
        "a": Around(DAY1, prev="q", head='Ana said, "A sunset over the lake."'),
    }
    fusion = Fusion(
        context_prev=0.3, context_prev2=0, context_next=0.15, context_next2=0, question_discount=0.3, question_reply=0.3
    )
    scores, _ = add_context([("q", 1.0), ("a", 0.5)], around, fusion, depth=50)
    # q: 0.7 × 1.0 + 0.15 × 0.5 = 0.775; a: 0.5 + (0.3 + 0.3) × 1.0 = 1.1.
    assert dict(scores) == pytest.approx({"a": 1.1, "q": 0.775})
    assert [pk for pk, _ in scores] == ["a", "q"]
    plain, _ = add_context([("q", 1.0), ("a", 0.5)], around, Fusion(question_discount=0, question_reply=0), depth=50)
    assert [pk for pk, _ in plain] == ["q", "a"]


def test_it_tells_questions_and_times() -> None:
    assert asks_question('Sam said, "Great! What did you paint?" and shared a photo of a lake')
    assert asks_question("Where is it?")
    assert not asks_question("Did you? I painted a sunset.")
    assert not asks_question("no marks at all")
    assert asks_when("When did Ana paint the sunset?")
    assert asks_when("In what year did we move?")
    assert not asks_when("What did Ana paint when she was young?")
    for text in ("I went yesterday", "Last week was busy", "on Friday", "in June", "since 2019", "a year ago"):
        assert mentions_time(text), text
    for text in ("You may like it", "I painted a sunset", "the last straw"):
        assert not mentions_time(text), text


def test_a_when_question_lifts_rows_that_mention_a_time() -> None:
    around = {"a": Around(DAY1, head="We went hiking"), "b": Around(DAY1, head="We went hiking last weekend")}
    ranked = [("a", 1.0), ("b", 0.9)]
    assert [pk for pk, _ in time_boost(ranked, around, "When did they go hiking?", 0.3)] == ["b", "a"]
    assert time_boost(ranked, around, "Where did they go hiking?", 0.3) == ranked
    assert time_boost(ranked, around, "When did they go hiking?", 0.0) == ranked


def test_the_first_places_do_not_all_come_from_one_episode() -> None:
    # a1..a4 written minutes apart (one episode), b1 a week later, a little weaker than a1..a3.
    times = {f"a{i}": DAY1 + dt.timedelta(minutes=i) for i in range(1, 5)} | {"b1": DAY1 + dt.timedelta(days=7)}
    ranked = [("a1", 1.0), ("a2", 0.95), ("a3", 0.9), ("b1", 0.85), ("a4", 0.8)]
    fusion = Fusion(diversity=0.15, diversity_top=5)
    # Places 1-5: a1 (1.0), a2 (0.95 × 0.85 = 0.81 < b1 0.85), so b1, then a2, a3 and a4; scores unchanged.
    assert diversify(ranked, times, fusion) == [("a1", 1.0), ("b1", 0.85), ("a2", 0.95), ("a3", 0.9), ("a4", 0.8)]
    # Only the first places: past them the order is the scores'.
    assert diversify(ranked, times, Fusion(diversity=0.15, diversity_top=1)) == ranked
    assert diversify(ranked, times, Fusion(diversity=0.0)) == ranked


def test_it_reads_the_dates_a_query_names() -> None:
    def spans(query: str) -> list[tuple[Any, Any, Any]]:
        return [(w.start, w.end, w.month) for w in query_date_windows(query)]

    may10 = (dt.date(2023, 5, 9), dt.date(2023, 5, 12), None)  # a day either side for time zones
    assert spans("Who did I meet on May 10, 2023?") == [may10]
    assert spans("Who did I meet on 10 May, 2023?") == [may10]
    assert spans("Who did I meet on the 10th of May 2023?") == [may10]
    assert spans("notes from 2023-05-10") == [may10]
    assert spans("What did I buy in December 2023?") == [(dt.date(2023, 12, 1), dt.date(2024, 1, 1), None)]
    assert spans("Where did we go camping in June?") == [(None, None, 6)]
    assert spans("How often did I swim in 2022?") == [(dt.date(2022, 1, 1), dt.date(2023, 1, 1), None)]
    assert spans("You may want to call 2023 friends") == []
    assert spans("on 31 February, 2023") == [(dt.date(2023, 2, 1), dt.date(2023, 3, 1), None)]  # no such day
    assert DateWindow(None, None, 6).contains(dt.datetime(2021, 6, 30, 23, tzinfo=dt.UTC))


def test_hybrid_search_lifts_rows_written_on_the_date_the_query_names(agent_a: Any, insert: Any) -> None:
    days = [DAY1 + dt.timedelta(days=d) for d in (0, 9, 20, 33, 47)]
    target = days[1]  # 10 May 2023; its text matches the query a little less well than the others'
    lunches = [
        PassageInput(
            text="Lunch with Sam at the noodle bar, then a long walk home along the river"
            if day == target
            else "Lunch with Sam at the noodle bar",
            created_at=day,
        )
        for day in days
    ]
    others = ["Sam called about the car", "Bought bread and milk", "Dentist appointment moved", "Read about bridges"]
    insert(
        agent_a,
        lunches + [PassageInput(text=t, created_at=DAY1 + dt.timedelta(days=60 + i)) for i, t in enumerate(others)],
    )
    query = "lunch at the noodle bar with Sam on 10 May 2023"

    hits = passage_search(agent=agent_a, query=query, top_k=5)
    assert hits[0].passage.created_at == target
    undated = passage_search(agent=agent_a, query=query, top_k=5, fusion=Fusion(date_weight=0.0))
    assert undated[0].passage.created_at != target


def test_the_embedded_query_leaves_out_the_words_most_rows_hold(agent_a: Any, insert: Any) -> None:
    scope = scope_for(Passage._meta.db_table, organization_id=agent_a.organization_id, agent_id=agent_a.id)
    insert(agent_a, [f'Caroline said, "I walked {i} miles today"' for i in range(COMMON_WORD_MIN_ROWS - 1)])
    assert embedding_query(scope, "What did Caroline paint?") == "What did Caroline paint?"  # too few rows to tell
    insert(agent_a, ['Melanie said, "I painted a sunset"'])
    # "said" and "caroline" are in over 20 % of the rows; stop words ("what", "did") stay.
    assert embedding_query(scope, "What did Caroline paint?") == "What did paint?"
    assert embedding_query(scope, "Caroline: miles today?") == "Caroline: miles today?"  # nothing else: as it is
    assert embedding_query(scope, "Where did Melanie's sunset go?") == "Where did Melanie's sunset go?"


def test_neighbours_are_the_agents_own_rows_either_side(alice: Any, agent_a: Any) -> None:
    """The look-ups leave the organization condition out (the agent implies it; see `neighbours`): another agent of
    the same organization, whose rows are written in between, never lends its rows."""
    from django.db import connection

    from memory.search import db_uuid, neighbours

    other = make_agent(alice, name="other-agent")
    # Written with the ORM on purpose: one bulk insert interleaves the two agents' rows in storage order.
    rows = [
        Passage(
            organization_id=agent.organization_id,
            agent=agent,
            text=f"row {i}",
            created_at=DAY1 + dt.timedelta(minutes=i, seconds=offset),
        )
        for i in range(40)
        for agent, offset in ((agent_a, 0), (other, 30))
    ]
    mine = Passage.objects.bulk_create(rows)[::2]
    scope = scope_for("memory_passage", organization_id=agent_a.organization_id, agent_id=agent_a.id)
    around = neighbours(scope, [db_uuid(p.pk) for p in mine[10:30]])

    def key(passage: Passage) -> Any:
        return passage.pk if connection.vendor == "postgresql" else passage.pk.hex

    row = around[key(mine[20])]
    assert [row.prev2, row.prev, row.next, row.next2] == [key(mine[i]) for i in (18, 19, 21, 22)]
    assert row.created_at == mine[20].created_at
