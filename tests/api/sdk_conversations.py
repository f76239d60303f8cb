"""The letta-client conversations scenario: two conversations of one agent (separate histories, shared memory),
the agent's own history as `default`, and a streamed conversation message.

Runs in the test process (letta-client 1.7.12) and as a script under the newest 1.x SDK:
`python tests/api/sdk_conversations.py BASE_URL API_KEY`. It imports only the SDK and the standard library. The
fake LLM must have been scripted with script_fake_llm first."""

from __future__ import annotations

import sys
from typing import Any

MEMORY_EDIT = ("memory_replace", {"label": "human", "old_string": "Name: Ada", "new_string": "Name: Ada. Trip: Lisbon"})
TRIP_REPLY = "Lisbon it is; I noted the trip."
COOKING_REPLY = "For the trip to Lisbon, try pastel de nata before you go."
DEFAULT_REPLY = "Hello from the agent's own history."


def script_fake_llm(fake: Any) -> None:
    fake.tool_call(*MEMORY_EDIT)
    fake.reply(TRIP_REPLY)
    fake.reply(COOKING_REPLY)
    fake.reply(DEFAULT_REPLY)


def _texts(messages: Any) -> list[tuple[str, Any]]:
    return [(m.message_type, getattr(m, "content", None)) for m in messages if m.message_type != "tool_call_message"]


def run(base_url: str, api_key: str) -> None:
    from letta_client import Letta, NotFoundError

    client = Letta(base_url=base_url, api_key=api_key, max_retries=0)
    agent = client.agents.create(
        name="sdk-conversations",
        model="openai/gpt-4o-mini",
        memory_blocks=[{"label": "human", "value": "Name: Ada"}],
    )
    trip = client.conversations.create(agent_id=agent.id, summary="Trip planning")
    cooking = client.conversations.create(agent_id=agent.id, summary="Cooking")
    assert trip.id.startswith("conv-") and trip.agent_id == agent.id and trip.summary == "Trip planning"
    assert client.conversations.retrieve(trip.id).summary == "Trip planning"
    assert [c.id for c in client.conversations.list(agent_id=agent.id)] == [cooking.id, trip.id]

    # A send to a conversation is a stream (the SDK always reads one); the model edits the shared memory.
    chunks = list(
        client.conversations.messages.create(trip.id, messages=[{"role": "user", "content": "Plan a Lisbon trip"}])
    )
    kinds = [c.message_type for c in chunks]
    assert kinds[-2:] == ["stop_reason", "usage_statistics"], kinds
    assert [c.content for c in chunks if c.message_type == "assistant_message"] == [TRIP_REPLY]
    assert client.agents.blocks.retrieve("human", agent_id=agent.id).value == "Name: Ada. Trip: Lisbon"

    # The other conversation, streamed token by token: its own history, the same memory.
    chunks = list(
        client.conversations.messages.create(
            cooking.id, messages=[{"role": "user", "content": "What should I cook?"}], stream_tokens=True
        )
    )
    deltas = [c for c in chunks if c.message_type == "assistant_message"]
    assert len(deltas) > 1 and len({c.id for c in deltas}) == 1
    assert "".join(c.content for c in deltas) == COOKING_REPLY
    assert "Trip: Lisbon" in client.conversations.recompile(cooking.id)

    # `default` with the agent id is the agent's own history: what agents.messages.create writes.
    response = client.agents.messages.create(agent_id=agent.id, messages=[{"role": "user", "content": "Hi"}])
    assert response.messages[-1].content == DEFAULT_REPLY

    trip_messages = _texts(client.conversations.messages.list(trip.id, order="asc"))
    assert ("user_message", "Plan a Lisbon trip") in trip_messages
    assert ("assistant_message", TRIP_REPLY) in trip_messages
    assert not {t for _, t in trip_messages} & {"What should I cook?", COOKING_REPLY, "Hi", DEFAULT_REPLY}
    cooking_messages = _texts(client.conversations.messages.list(cooking.id, order="asc"))
    assert cooking_messages == [("user_message", "What should I cook?"), ("assistant_message", COOKING_REPLY)]
    default_messages = _texts(client.conversations.messages.list("default", agent_id=agent.id, order="asc"))
    assert default_messages == [("user_message", "Hi"), ("assistant_message", DEFAULT_REPLY)]
    # The agent's list holds every conversation's messages.
    everything = {t for _, t in _texts(client.agents.messages.list(agent_id=agent.id, limit=100))}
    assert {TRIP_REPLY, COOKING_REPLY, DEFAULT_REPLY} <= everything

    # Update, cancel (nothing active), delete.
    renamed = client.conversations.update(trip.id, summary="Lisbon trip")
    assert renamed.summary == "Lisbon trip"
    assert client.conversations.cancel(trip.id) == {}
    assert client.conversations.cancel("default", agent_id=agent.id) == {}
    client.conversations.delete(cooking.id)
    try:
        client.conversations.retrieve(cooking.id)
    except NotFoundError:
        pass
    else:
        raise AssertionError("a deleted conversation is gone")
    assert [c.id for c in client.conversations.list(agent_id=agent.id)] == [trip.id]
    client.agents.delete(agent.id)


if __name__ == "__main__":
    run(sys.argv[1], sys.argv[2])
    print("scenario passed")
