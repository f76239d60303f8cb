"""The letta-client scenario: what a user of the official Python SDK does against Engram, unchanged.

Runs in the test process (letta-client 1.7.12 from the dev dependencies) and as a script under another
interpreter holding the newest 1.x SDK: `python tests/api/sdk_scenario.py BASE_URL API_KEY`. It imports only the
SDK and the standard library. The fake LLM must have been scripted with SCRIPT (see script_fake_llm) first."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

# The chat replies the scenario consumes, in order (see tests/fakes/llm_server.py).
MEMORY_EDIT = ("memory_replace", {"label": "human", "old_string": "Name: Ada", "new_string": "Name: Ada. Cat: Tom"})
FIRST_REPLY = "Noted: your cat is Tom."
STREAMED_REPLY = "Tom is a fine name for a cat, and I will remember it."
IMPORTED_REPLY = "I am the imported copy, and I still know about Tom."
# Approvals: the daphne server of the tests holds calls this many seconds (tests/live.py).
APPROVAL_TTL = 12
APPROVED_REPLY = "Saved: your cat is Tom."
DENIED_REPLY = "All right, I did not save it."
CLIENT_REPLY = "You are in Paris."
AFTER_EXPIRY_REPLY = "I am still here."
LOCATION_TOOL = {
    "name": "get_location",
    "description": "The user's current city.",
    "parameters": {"type": "object", "properties": {"precision": {"type": "string"}}, "required": []},
}

SOURCE = '''
def roll_dice(sides: int) -> int:
    """Roll a die.

    Args:
        sides: How many sides the die has.

    Returns:
        int: The number rolled.
    """
    import random

    return random.randint(1, sides)
'''


def script_fake_llm(fake: Any) -> None:
    fake.tool_call(*MEMORY_EDIT)
    fake.reply(FIRST_REPLY)
    fake.reply(STREAMED_REPLY)
    fake.reply(IMPORTED_REPLY)
    fake.tool_call("memory_insert", {"label": "human", "new_string": "Cat: Tom"}, id="call_approve")
    fake.reply(APPROVED_REPLY)
    fake.tool_call("memory_insert", {"label": "human", "new_string": "Dog: Rex"}, id="call_deny")
    fake.reply(DENIED_REPLY)
    fake.tool_call("get_location", {"precision": "city"}, id="call_client")
    fake.reply(CLIENT_REPLY)
    fake.tool_call("memory_insert", {"label": "human", "new_string": "Bird: Tweety"}, id="call_expire")
    fake.reply(AFTER_EXPIRY_REPLY)


def approvals(client: Any) -> None:
    """A tool that requires approval (approve, deny with a reason, expiry) and a client-side tool round trip."""
    from letta_client import ConflictError, UnprocessableEntityError

    agent = client.agents.create(
        name="sdk-approvals", model="openai/gpt-4o-mini", memory_blocks=[{"label": "human", "value": "Name: Ada"}]
    )
    client.agents.tools.update_approval("memory_insert", agent_id=agent.id, body_requires_approval=True)
    rules = client.agents.retrieve(agent.id).tool_rules or []
    assert [(r.type, r.tool_name) for r in rules if r.type == "requires_approval"] == [
        ("requires_approval", "memory_insert")
    ]

    def ask(text: str) -> Any:
        response = client.agents.messages.create(agent_id=agent.id, messages=[{"role": "user", "content": text}])
        assert response.stop_reason.stop_reason == "requires_approval", response.stop_reason
        request = response.messages[-1]
        assert request.message_type == "approval_request_message", [m.message_type for m in response.messages]
        assert "tool_call_message" not in [m.message_type for m in response.messages]
        return request

    def answer(*approvals: dict[str, Any], **kwargs: Any) -> Any:
        return client.agents.messages.create(
            agent_id=agent.id, messages=[{"type": "approval", "approvals": list(approvals)}], **kwargs
        )

    # Approve: the tool runs, the loop goes on.
    request = ask("Remember that my cat is Tom")
    assert (request.tool_call.name, request.tool_call.tool_call_id) == ("memory_insert", "call_approve")
    pending = client.agents.retrieve(agent.id).pending_approval
    assert pending is not None and pending.tool_call.tool_call_id == "call_approve"
    assert json.loads(request.tool_call.arguments) == {"label": "human", "new_string": "Cat: Tom"}
    try:
        client.agents.messages.create(agent_id=agent.id, messages=[{"role": "user", "content": "Hello?"}])
    except ConflictError as exc:
        assert "waiting for approval" in str(exc)
    else:
        raise AssertionError("a message while a tool call waits for approval is a 409")
    try:
        answer({"type": "approval", "tool_call_id": "call_unknown", "approve": True})
    except UnprocessableEntityError as exc:
        assert "call_unknown is not waiting for approval" in str(exc)
    else:
        raise AssertionError("an approval of an unknown tool call is a 422")
    approved = answer({"type": "approval", "tool_call_id": "call_approve", "approve": True})
    assert [m.message_type for m in approved.messages] == ["tool_return_message", "assistant_message"]
    assert approved.messages[0].status == "success" and approved.messages[-1].content == APPROVED_REPLY
    assert approved.stop_reason.stop_reason == "end_turn"
    assert client.agents.blocks.retrieve("human", agent_id=agent.id).value == "Name: Ada\nCat: Tom"
    assert client.agents.retrieve(agent.id).pending_approval is None
    try:
        answer({"type": "approval", "tool_call_id": "call_approve", "approve": True})
    except UnprocessableEntityError as exc:
        assert "already been answered" in str(exc)
    else:
        raise AssertionError("an approval of an answered tool call is a 422")

    # Deny with a reason: the model reads the denial as the tool's result.
    ask("And that I have a dog called Rex")
    denied = answer({"type": "approval", "tool_call_id": "call_deny", "approve": False, "reason": "no dogs"})
    result = denied.messages[0]
    assert (result.message_type, result.status) == ("tool_return_message", "error")
    assert result.tool_return == "Error: request to call tool denied. User reason: no dogs"
    assert denied.messages[-1].content == DENIED_REPLY
    assert client.agents.blocks.retrieve("human", agent_id=agent.id).value == "Name: Ada\nCat: Tom"
    history = list(client.agents.messages.list(agent_id=agent.id, limit=100, order="asc"))
    responses = [m for m in history if m.message_type == "approval_response_message"]
    assert [(r.approval_request_id, r.approve) for r in responses] == [("call_approve", True), ("call_deny", False)]
    assert responses[1].approvals[0].reason == "no dogs"

    # A client-side tool, streamed as letta-code does: the call comes back, the client returns its result.
    chunks = list(
        client.agents.messages.create(
            agent_id=agent.id,
            messages=[{"role": "user", "content": "Where am I?"}],
            client_tools=[LOCATION_TOOL],
            streaming=True,
        )
    )
    kinds = [c.message_type for c in chunks]
    assert kinds[-3:] == ["approval_request_message", "stop_reason", "usage_statistics"], kinds
    assert chunks[-2].stop_reason == "requires_approval"
    assert chunks[-3].tool_call.name == "get_location"
    returned = answer(
        {"type": "tool", "tool_call_id": "call_client", "tool_return": "Paris", "status": "success"},
        client_tools=[LOCATION_TOOL],
    )
    assert [(m.message_type, getattr(m, "tool_return", None)) for m in returned.messages][0] == (
        "tool_return_message",
        "Paris",
    )
    assert returned.messages[-1].content == CLIENT_REPLY

    # Unanswered past the TTL: denied, the run says why, and the agent takes messages again.
    ask("Also remember Tweety the bird")
    time.sleep(APPROVAL_TTL + 1)
    after = client.agents.messages.create(agent_id=agent.id, messages=[{"role": "user", "content": "Still there?"}])
    assert after.messages[-1].content == AFTER_EXPIRY_REPLY
    expired = [
        m for m in client.agents.messages.list(agent_id=agent.id, limit=100) if m.message_type == "tool_return_message"
    ]
    assert expired[0].status == "error" and "expired" in expired[0].tool_return
    assert client.agents.blocks.retrieve("human", agent_id=agent.id).value == "Name: Ada\nCat: Tom"
    client.agents.delete(agent.id)


def run(base_url: str, api_key: str) -> None:
    from letta_client import Letta, NotFoundError

    client = Letta(base_url=base_url, api_key=api_key, max_retries=0)
    assert client.health().status == "ok"
    assert any(m.handle == "openai/gpt-4o-mini" for m in client.models.list())
    assert client.models.embeddings.list()

    # An agent with two blocks and the archival tools.
    agent = client.agents.create(
        name="sdk-agent",
        model="openai/gpt-4o-mini",
        embedding="openai/text-embedding-3-small",
        memory_blocks=[
            {"label": "human", "value": "Name: Ada"},
            {"label": "persona", "value": "I am a helpful assistant"},
        ],
        tools=["archival_memory_insert", "archival_memory_search"],
        tags=["sdk"],
    )
    assert agent.id.startswith("agent-")
    assert {b.label for b in agent.blocks} == {"human", "persona"}
    assert {"archival_memory_insert", "archival_memory_search", "memory_replace"} <= {t.name for t in agent.tools}
    assert agent.llm_config.handle == "openai/gpt-4o-mini"
    assert client.agents.retrieve(agent.id).name == "sdk-agent"
    assert [a.id for a in client.agents.list(tags=["sdk"])] == [agent.id]

    # Send a message; the (fake) model edits memory, then answers.
    response = client.agents.messages.create(
        agent_id=agent.id, messages=[{"role": "user", "content": "Remember my cat is Tom", "otid": "otid-1"}]
    )
    types = [m.message_type for m in response.messages]
    assert types == ["tool_call_message", "tool_return_message", "assistant_message"], types
    assert response.messages[0].tool_call.name == "memory_replace"
    assert response.messages[-1].content == FIRST_REPLY
    assert response.stop_reason.stop_reason == "end_turn"
    assert response.usage.step_count == 2 and response.usage.total_tokens > 0
    # A retry with the same otid does not create a second message (nor a second run).
    again = client.agents.messages.create(
        agent_id=agent.id, messages=[{"role": "user", "content": "Remember my cat is Tom", "otid": "otid-1"}]
    )
    assert again.usage.run_ids == response.usage.run_ids

    # The updated block.
    human = client.agents.blocks.retrieve("human", agent_id=agent.id)
    assert human.value == "Name: Ada. Cat: Tom"

    # Stream a message token by token and put it back together.
    chunks = list(
        client.agents.messages.create(
            agent_id=agent.id,
            messages=[{"role": "user", "content": "What is my cat called?"}],
            streaming=True,
            stream_tokens=True,
        )
    )
    kinds = [c.message_type for c in chunks]
    assert kinds[-2:] == ["stop_reason", "usage_statistics"], kinds
    deltas = [c for c in chunks if c.message_type == "assistant_message"]
    assert len(deltas) > 1, "stream_tokens sends the reply in pieces"
    assert len({c.id for c in deltas}) == 1, "the pieces of one message share its id"
    assert "".join(c.content for c in deltas) == STREAMED_REPLY
    stored = [
        m for m in client.agents.messages.list(agent_id=agent.id, limit=100) if m.message_type == "assistant_message"
    ]
    assert stored[0].id == deltas[0].id and stored[0].content == STREAMED_REPLY

    # A shared block attached to two agents: an edit is seen by both.
    other = client.agents.create(
        name="sdk-other", model="openai/gpt-4o-mini", memory_blocks=[], secrets={"WEATHER_KEY": "abc-123"}
    )
    assert [(s.key, s.value, s.agent_id) for s in other.secrets or []] == [("WEATHER_KEY", "abc-123", other.id)]
    updated = client.agents.update(other.id, secrets={"UNITS": "metric"})
    assert [(s.key, s.value) for s in updated.secrets or []] == [("UNITS", "metric")]
    team = client.blocks.create(label="team", value="Team: research")
    client.agents.blocks.attach(team.id, agent_id=agent.id)
    client.agents.blocks.attach(team.id, agent_id=other.id)
    assert {a.id for a in client.blocks.agents.list(team.id)} == {agent.id, other.id}
    client.agents.blocks.update("team", agent_id=other.id, value="Team: research and play")
    assert client.agents.blocks.retrieve("team", agent_id=agent.id).value == "Team: research and play"
    assert client.blocks.retrieve(team.id).value == "Team: research and play"

    # Archival memory with tags.
    created = client.agents.passages.create(agent.id, text="Cat is Tom", tags=["pets"])
    assert created[0].text == "Cat is Tom" and created[0].tags == ["pets"]
    client.agents.passages.create(agent.id, text="Lunch was soup", tags=["food"])
    assert {p.text for p in client.agents.passages.list(agent.id)} == {"Cat is Tom", "Lunch was soup"}
    found = client.agents.passages.search(agent.id, query="cat Tom", tags=["pets"])
    assert found.count == 1 and found.results[0].content == "Cat is Tom"

    # A tool from Python source, attached to the agent.
    tool = client.tools.create(source_code=SOURCE)
    assert tool.name == "roll_dice"
    assert tool.json_schema["parameters"]["properties"]["sides"]["type"] == "integer"
    client.agents.tools.attach(tool.id, agent_id=agent.id)
    assert "roll_dice" in {t.name for t in client.agents.tools.list(agent.id)}
    assert client.tools.upsert(source_code=SOURCE, description="Roll one die").id == tool.id

    # Export to an agent file and import it: a copy with new ids, the same memory, tool and history, that
    # carries on the conversation. The custom tool of the same name is reused, not duplicated.
    exported = client.agents.export_file(agent.id)
    document = json.loads(exported)
    assert [a["name"] for a in document["agents"]] == ["sdk-agent"]
    imported = client.agents.import_file(
        file=("sdk-agent.af", exported.encode(), "application/json"), append_copy_suffix=True
    )
    [copy_id] = imported.agent_ids
    assert copy_id != agent.id and copy_id.startswith("agent-")
    original, copy = client.agents.retrieve(agent.id), client.agents.retrieve(copy_id)
    assert copy.name == "sdk-agent_copy"
    assert sorted((b.label, b.value) for b in copy.blocks) == sorted((b.label, b.value) for b in original.blocks)
    assert {b.label for b in copy.blocks} == {"human", "persona", "team"}
    assert not {b.id for b in copy.blocks} & {b.id for b in original.blocks}
    assert {t.name for t in copy.tools} == {t.name for t in original.tools}
    assert [t.id for t in copy.tools if t.name == "roll_dice"] == [tool.id]
    assert len(copy.message_ids or []) == len(original.message_ids or []) > 0
    assert not set(copy.message_ids or []) & set(original.message_ids or [])

    def shown(agent_id: str) -> list[tuple[str, Any]]:
        return [
            (m.message_type, getattr(m, "content", None) or getattr(getattr(m, "tool_call", None), "name", None))
            for m in client.agents.messages.list(agent_id=agent_id, limit=100)
        ]

    assert shown(copy_id) == shown(agent.id)
    answer = client.agents.messages.create(
        agent_id=copy_id, messages=[{"role": "user", "content": "Do you remember my cat?"}]
    )
    assert answer.messages[-1].content == IMPORTED_REPLY
    assert client.agents.blocks.retrieve("team", agent_id=agent.id).value == "Team: research and play"
    client.agents.delete(copy_id)

    # Messages across pages (the SDK follows `after` cursors).
    everything = list(client.agents.messages.list(agent_id=agent.id, limit=100))
    paged = list(client.agents.messages.list(agent_id=agent.id, limit=2))
    assert [(m.id, m.otid) for m in paged] == [(m.id, m.otid) for m in everything]
    assert [m.message_type for m in everything].count("user_message") == 2

    # Runs and steps.
    run_id = response.usage.run_ids[0]
    assert client.runs.retrieve(run_id).status == "completed"
    steps = list(client.runs.steps.list(run_id))
    assert len(steps) == 2
    step_messages = [m.message_type for m in client.steps.messages.list(steps[0].id, order="asc")]
    assert step_messages == ["tool_call_message", "tool_return_message"], step_messages
    assert client.steps.metrics.retrieve(steps[0].id).run_id == run_id
    rated = client.steps.feedback.create(steps[0].id, feedback="positive", tags=["memory"])
    assert (rated.feedback, rated.tags) == ("positive", ["memory"])
    spans = client.runs.trace.retrieve(run_id)
    assert [s["SpanName"] for s in spans if s["SpanName"] in ("agent_run", "agent_step")] == ["agent_run"] + 2 * [
        "agent_step"
    ]
    provider_trace = client.steps.trace.retrieve(steps[0].id)
    assert provider_trace is not None and provider_trace.step_id == steps[0].id
    assert provider_trace.request_json["messages"] and provider_trace.response_json["choices"]

    # Messages across the organization: list, retrieve one, search (recall search).
    assert {m.id for m in everything} <= {m.id for m in client.messages.list(limit=100)}
    one = client.messages.retrieve(stored[0].id)
    assert [(m.message_type, m.content) for m in one] == [("assistant_message", STREAMED_REPLY)]
    found = client.messages.search(query="cat", agent_id=agent.id, search_mode="fts")
    assert found and {r.agent_id for r in found} == {agent.id}
    assert "Remember my cat is Tom" in [r.content for r in found if r.message_type == "user_message"]

    # The compiled system prompt, tool search, and a tool run by hand.
    assert "Cat: Tom" in client.agents.recompile(agent.id)
    assert client.tools.search(query="dice")[0].tool.name == "roll_dice"
    result = client.agents.tools.run("roll_dice", agent_id=agent.id, args={"sides": 1})
    assert (result.status, result.func_return) == ("success", "1")

    # Identities: an app's end user mapped to agents. Neither SDK 1.x has `client.identities` (only the
    # agent-side attach/detach, `identity_ids` and the list filters), so those routes are called through the
    # SDK's own HTTP methods, as an app on 1.x does.
    ada = client.post(
        "/v1/identities/",
        cast_to=object,
        body={"identifier_key": "ada@example.com", "name": "Ada", "identity_type": "user"},
    )
    assert isinstance(ada, dict) and ada["id"].startswith("identity-"), ada
    client.agents.identities.attach(ada["id"], agent_id=agent.id)
    state = client.agents.retrieve(agent.id)
    assert state.identity_ids == [ada["id"]]
    assert state.identities and state.identities[0].identifier_key == "ada@example.com"
    assert [a.id for a in client.agents.list(identity_id=ada["id"])] == [agent.id]
    assert [a.id for a in client.agents.list(identifier_keys=["ada@example.com"])] == [agent.id]
    with_identity = client.agents.create(name="sdk-identity", model="openai/gpt-4o-mini", identity_ids=[ada["id"]])
    assert with_identity.identity_ids == [ada["id"]]
    assert client.agents.update(with_identity.id, identity_ids=[]).identity_ids == []
    # Upsert by identifier_key: the same identity, renamed; then its properties replaced.
    body = {"identifier_key": "ada@example.com", "name": "Ada Lovelace", "identity_type": "user"}
    upserted = client.put("/v1/identities/", cast_to=object, body=body)
    assert isinstance(upserted, dict) and upserted["id"] == ada["id"] and upserted["name"] == "Ada Lovelace"
    props = [{"key": "plan", "value": "pro", "type": "string"}]
    client.put(f"/v1/identities/{ada['id']}/properties", cast_to=object, body=props)
    fetched = client.get(f"/v1/identities/{ada['id']}", cast_to=object)
    assert isinstance(fetched, dict) and fetched["properties"] == props
    assert fetched["agent_ids"] == [agent.id]
    listed = client.get("/v1/identities/", cast_to=object, options={"params": {"identifier_key": "ada@example.com"}})
    assert isinstance(listed, list) and [i["id"] for i in listed] == [ada["id"]]
    client.agents.identities.detach(ada["id"], agent_id=agent.id)
    assert client.agents.retrieve(agent.id).identity_ids == []
    assert list(client.agents.list(identity_id=ada["id"])) == []
    client.delete(f"/v1/identities/{ada['id']}", cast_to=object)
    try:
        client.get(f"/v1/identities/{ada['id']}", cast_to=object)
    except NotFoundError:
        pass
    else:
        raise AssertionError("a deleted identity is gone")
    client.agents.delete(with_identity.id)

    approvals(client)

    # Delete.
    client.agents.delete(other.id)
    client.agents.delete(agent.id)
    try:
        client.agents.retrieve(agent.id)
    except NotFoundError:
        pass
    else:
        raise AssertionError("a deleted agent is gone")


if __name__ == "__main__":
    run(sys.argv[1], sys.argv[2])
    print("scenario passed")
