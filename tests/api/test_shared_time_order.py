"""What a client sends when it only knows when a conversation happened (issue #20, LoCoMo through the API): every
turn written one by one with one shared created_at, as archival passages or as an agent file's messages. Listing
keeps the order they were written in, and the neighbour signal of hybrid search follows that order: the turn
after a matching question is lifted most, then the one after it, then the ones before."""

import io
import json
from typing import Any

import pytest
from rest_framework.test import APIClient

from agents.models import Message
from lib.ids import local_id, parse_id, public_id
from tests.factories import make_agent

pytestmark = pytest.mark.django_db

WHEN = "2023-05-08T13:56:00+00:00"
COUNT = 24
QUESTION_AT = 10
QUESTION = 'Caroline said, "What did you paint last week?"'
REPLY = 'Melanie said, "A sunset over the lake."'


def _turns() -> list[str]:
    turns = [f"Speaker {i} talked about the weather, bread and trains, line {i}." for i in range(COUNT)]
    turns[QUESTION_AT], turns[QUESTION_AT + 1] = QUESTION, REPLY
    return turns


def _expected(turns: list[str]) -> list[str]:
    """Only the question matches the query's words; the rest is found through the neighbour signal: the reply
    (context_prev + question_reply), the turn after it (context_prev2), the one before (context_next), and the one
    before that (context_next2)."""
    return [turns[QUESTION_AT + k] for k in (0, 1, 2, -1, -2)]


def test_passages_written_one_by_one_at_one_time_list_and_search_in_their_order(
    alice: Any, alice_api: APIClient, charlie_api: APIClient
) -> None:
    agent_id = public_id("agent", make_agent(alice, name="locomo").id)
    turns = _turns()
    for text in turns:
        response = alice_api.post(
            f"/v1/agents/{agent_id}/archival-memory", {"text": text, "created_at": WHEN}, format="json"
        )
        assert response.status_code == 200, response.content
    listed = alice_api.get(f"/v1/agents/{agent_id}/archival-memory", {"limit": 100}).json()
    assert [p["text"] for p in listed] == turns
    newest_first = alice_api.get(f"/v1/agents/{agent_id}/archival-memory", {"ascending": "false"}).json()
    assert [p["text"] for p in newest_first] == turns[::-1]
    page = alice_api.get(f"/v1/agents/{agent_id}/archival-memory", {"after": listed[6]["id"], "limit": 5}).json()
    assert [p["text"] for p in page] == turns[7:12]

    found = alice_api.get(f"/v1/agents/{agent_id}/archival-memory/search", {"query": "What did you paint?"}).json()
    assert [r["content"] for r in found["results"]] == _expected(turns)
    assert {r["timestamp"] for r in found["results"]} == {WHEN}

    # Another organization sees none of it.
    assert charlie_api.get(f"/v1/agents/{agent_id}/archival-memory").status_code == 404
    assert charlie_api.get(f"/v1/agents/{agent_id}/archival-memory/search", {"query": "paint"}).status_code == 404


def _agent_file(turns: list[str]) -> bytes:
    messages = [
        {
            "id": local_id("message", i),
            "role": "user" if i % 2 == 0 else "assistant",
            "content": [{"type": "text", "text": text}],
            "created_at": WHEN,
        }
        for i, text in enumerate(turns)
    ]
    agent = {
        "id": "agent-0",
        "name": "locomo-recall",
        "agent_type": "letta_v1_agent",
        "system": "You are a helpful assistant.",
        "messages": messages,
        "in_context_message_ids": [m["id"] for m in messages[-4:]],
    }
    document = {"agents": [agent], "blocks": [], "tools": [], "groups": [], "files": [], "sources": []}
    return json.dumps(document).encode()


def test_imported_messages_at_one_time_keep_their_order_in_recall_search(
    alice_api: APIClient, charlie_api: APIClient
) -> None:
    turns = _turns()
    response = alice_api.post("/v1/agents/import", {"file": io.BytesIO(_agent_file(turns))}, format="multipart")
    assert response.status_code == 200, response.content
    [agent_id] = response.json()["agent_ids"]
    stored = Message.objects.filter(agent_id=parse_id("agent", agent_id), text__in=turns).order_by("created_at", "id")
    assert [m.text for m in stored] == turns

    body = {"query": "What did you paint?", "agent_id": agent_id, "limit": 10}
    found = alice_api.post("/v1/messages/search", body, format="json")
    assert found.status_code == 200, found.content
    texts = [Message.objects.get(pk=parse_id("message", r["message_id"])).text for r in found.json()]
    assert texts == _expected(turns)

    assert charlie_api.post("/v1/messages/search", body, format="json").status_code == 404


def test_merging_agents_rankings_keeps_each_agents_order() -> None:
    """Hybrid search may place a row above a better-scored one (episode diversity); /v1/messages/search merges the
    agents' rankings without undoing that."""
    import datetime as dt

    from agents.runtime.recall import MessageHit, merge_rankings
    from tests.factories import unsaved_message

    def hit(score: float, minute: int) -> MessageHit:
        created = dt.datetime(2026, 1, 1, 0, minute, tzinfo=dt.UTC)
        return MessageHit(message=unsaved_message(created_at=created), score=score)

    a, b, c = hit(0.9, 1), hit(1.0, 2), hit(0.95, 3)
    assert merge_rankings([[a, b]], 10) == [a, b]
    assert merge_rankings([[a, b], [c]], 10) == [c, a, b]
    assert merge_rankings([[a, b], [c]], 2) == [c, a]
    assert merge_rankings([[], []], 5) == []
