"""/v1/conversations: CRUD, `default`, listing a conversation's messages, compaction, search, bad input and
tenant isolation on every route."""

from typing import Any

import pytest
from asgiref.sync import async_to_sync

from agents.models import Conversation, Message, Run, RunStatus
from agents.services.conversations import conversation_create
from agents.services.runs import run_create
from lib.ids import public_id
from tests import factories


@pytest.fixture
def agent(alice: Any) -> Any:
    return factories.make_agent(alice, name="conv-agent")


@pytest.fixture
def conversation(alice: Any, agent: Any) -> Conversation:
    return conversation_create(actor=alice, agent=agent, summary="Trip planning", description="planning a trip")


def conv(c: Conversation) -> str:
    return public_id("conv", c.id)


def test_it_creates_lists_retrieves_updates_and_deletes(alice_api: Any, agent: Any) -> None:
    agent_id = public_id("agent", agent.id)
    created = alice_api.post(f"/v1/conversations/?agent_id={agent_id}", {"summary": "First"}, format="json")
    assert created.status_code == 200, created.content
    body = created.json()
    assert body["id"].startswith("conv-") and body["agent_id"] == agent_id and body["summary"] == "First"
    assert body["archived"] is False
    second = alice_api.post(f"/v1/conversations?agent_id={agent_id}", {"summary": "Second"}, format="json").json()
    listed = alice_api.get(f"/v1/conversations/?agent_id={agent_id}").json()
    assert [c["id"] for c in listed] == [second["id"], body["id"]]  # newest first
    assert [c["id"] for c in alice_api.get(f"/v1/conversations/?agent_id={agent_id}&order=asc&limit=1").json()] == [
        body["id"]
    ]
    assert alice_api.get("/v1/conversations/?summary_search=secon").json()[0]["id"] == second["id"]
    patched = alice_api.patch(
        f"/v1/conversations/{body['id']}", {"summary": "Renamed", "archived": True}, format="json"
    ).json()
    assert patched["summary"] == "Renamed" and patched["archived"] is True and patched["archived_at"]
    assert [c["id"] for c in alice_api.get(f"/v1/conversations/?agent_id={agent_id}").json()] == [second["id"]]
    archived = alice_api.get(f"/v1/conversations/?agent_id={agent_id}&archive_status=archived").json()
    assert [c["id"] for c in archived] == [body["id"]]
    assert alice_api.delete(f"/v1/conversations/{body['id']}").status_code == 200
    assert alice_api.get(f"/v1/conversations/{body['id']}").status_code == 404


def test_messages_of_a_conversation_and_of_default(
    alice: Any, alice_api: Any, agent: Any, conversation: Any, fake_llm: Any
) -> None:
    fake_llm.reply("conversation answer")
    factories.send(alice, agent, "in the conversation", conversation=conversation)
    fake_llm.reply("default answer")
    factories.send(alice, agent, "in the default")
    agent_id = public_id("agent", agent.id)

    def texts(url: str) -> list[str]:
        response = alice_api.get(url)
        assert response.status_code == 200, response.content
        return [m.get("content") for m in response.json()]

    assert texts(f"/v1/conversations/{conv(conversation)}/messages?order=asc") == [
        "in the conversation",
        "conversation answer",
    ]
    assert texts(f"/v1/conversations/default/messages?agent_id={agent_id}&order=asc") == [
        "in the default",
        "default answer",
    ]
    # Deprecated: the agent id in place of the conversation id.
    assert texts(f"/v1/conversations/{agent_id}/messages?order=asc") == ["in the default", "default answer"]
    # The agent's list holds them all; its conversation_id filter narrows it.
    assert len(texts(f"/v1/agents/{agent_id}/messages")) == 4
    assert texts(f"/v1/agents/{agent_id}/messages?conversation_id={conv(conversation)}&order=asc") == [
        "in the conversation",
        "conversation answer",
    ]
    run = Run.objects.get(conversation=conversation)
    assert alice_api.get(f"/v1/runs/{public_id('run', run.id)}").json()["conversation_id"] == conv(conversation)
    listed = alice_api.get(f"/v1/runs/?conversation_id={conv(conversation)}").json()
    assert [r["id"] for r in listed] == [public_id("run", run.id)]


def test_compact_folds_only_that_conversations_messages(
    alice: Any, alice_api: Any, agent: Any, conversation: Any, fake_llm: Any
) -> None:
    for i in range(3):
        fake_llm.reply(f"answer {i}")
        factories.send(alice, agent, f"question {i}", conversation=conversation)
    fake_llm.reply("default answer")
    factories.send(alice, agent, "default question")
    fake_llm.reply("THE SUMMARY")
    response = alice_api.post(f"/v1/conversations/{conv(conversation)}/compact", {}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["summary"] == "THE SUMMARY" and body["num_messages_before"] == 6
    assert body["num_messages_after"] < 6
    assert Message.objects.filter(agent=agent, conversation=None, in_context=True).count() == 2


def test_cancel_recompile_and_stream_of_a_conversation(
    alice: Any, alice_api: Any, agent: Any, conversation: Any, fake_llm: Any
) -> None:
    run = run_create(actor=alice, agent=agent, messages=[{"role": "user", "content": "x"}], conversation=conversation)
    other = run_create(actor=alice, agent=agent, messages=[{"role": "user", "content": "y"}])
    cancelled = alice_api.post(f"/v1/conversations/{conv(conversation)}/cancel").json()
    assert cancelled == {public_id("run", run.id): "cancelled"}
    assert Run.objects.get(pk=other.pk).status == RunStatus.QUEUED  # the agent's own history is not touched
    compiled = alice_api.post(f"/v1/conversations/{conv(conversation)}/recompile", {}, format="json")
    assert compiled.status_code == 200 and "<memory_blocks>" in compiled.content.decode()
    # The resumable stream of the conversation's latest run (here: a cancelled one, so it ends at once).
    stream = alice_api.post(f"/v1/conversations/{conv(conversation)}/stream", {}, format="json")
    assert stream.status_code == 200
    text = async_to_sync(_body)(stream)
    assert '"stop_reason":"cancelled"' in text and text.rstrip().endswith("[DONE]")


async def _body(response: Any) -> str:
    return b"".join([chunk async for chunk in response.streaming_content]).decode()


def test_search_finds_conversations_by_their_description(alice_api: Any, agent: Any, conversation: Any) -> None:
    conversation_create(actor=None, agent=agent, description="cooking dinner")
    found = alice_api.post("/v1/conversations/search", {"query": "trip planning"}, format="json")
    assert found.status_code == 200, found.content
    [hit] = found.json()
    assert hit["conversation"]["id"] == conv(conversation) and hit["rrf_score"] == 1.0
    assert hit["embedded_text"] == "planning a trip"


@pytest.mark.parametrize(
    ("method", "url", "body", "field"),
    [
        ("post", "/v1/conversations/", {}, "agent_id"),
        ("post", "/v1/conversations/?agent_id={agent}", {"context_window_limit": 0}, "context_window_limit"),
        ("post", "/v1/conversations/?agent_id={agent}", {"model": "http://evil/x"}, "model"),
        ("patch", "/v1/conversations/{conv}", {"archived": "maybe"}, "archived"),
        ("post", "/v1/conversations/default/messages", {"input": "hi"}, "agent_id"),
        ("post", "/v1/conversations/{conv}/messages", {}, "messages"),
        ("post", "/v1/conversations/{conv}/messages", {"input": "hi", "max_steps": 0}, "max_steps"),
        ("get", "/v1/conversations/default/messages", None, "agent_id"),
        ("get", "/v1/conversations/?order=sideways", None, "order"),
        ("post", "/v1/conversations/search", {}, "query"),
        ("post", "/v1/conversations/{conv}/stream", {"run_id": "nonsense"}, "run_id"),
    ],
)
def test_bad_input_is_a_422_naming_the_field(
    alice_api: Any, agent: Any, conversation: Any, method: str, url: str, body: Any, field: str
) -> None:
    url = url.format(agent=public_id("agent", agent.id), conv=conv(conversation))
    before = (Conversation.objects.count(), Message.objects.count(), Run.objects.count())
    response = getattr(alice_api, method)(url, body, format="json") if body is not None else alice_api.get(url)
    assert response.status_code == 422, response.content
    assert field in str(response.json()["detail"])
    assert (Conversation.objects.count(), Message.objects.count(), Run.objects.count()) == before


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "", None),
        ("patch", "", {"summary": "stolen"}),
        ("delete", "", None),
        ("get", "/messages", None),
        ("post", "/messages", {"input": "hi", "streaming": False}),
        ("post", "/stream", {}),
        ("post", "/cancel", None),
        ("post", "/compact", {}),
        ("post", "/recompile", {}),
    ],
)
def test_another_organization_gets_404_on_every_route(
    charlie_api: Any, conversation: Any, method: str, path: str, body: Any
) -> None:
    url = f"/v1/conversations/{conv(conversation)}{path}"
    response = (
        getattr(charlie_api, method)(url, body, format="json")
        if body is not None
        else getattr(charlie_api, method)(url)
    )
    assert response.status_code == 404, response.content
    conversation.refresh_from_db()
    assert conversation.summary == "Trip planning" and not Message.objects.filter(conversation=conversation).exists()


def test_another_organization_sees_none_of_them(charlie_api: Any, agent: Any, conversation: Any) -> None:
    agent_id = public_id("agent", agent.id)
    assert charlie_api.get("/v1/conversations/").json() == []
    assert charlie_api.get(f"/v1/conversations/?agent_id={agent_id}").status_code == 404
    assert charlie_api.post(f"/v1/conversations/?agent_id={agent_id}", {}, format="json").status_code == 404
    assert charlie_api.get(f"/v1/conversations/default/messages?agent_id={agent_id}").status_code == 404
    assert charlie_api.post("/v1/conversations/search", {"query": "trip"}, format="json").json() == []
    found = charlie_api.post("/v1/conversations/search", {"query": "trip", "agent_id": agent_id}, format="json")
    assert found.status_code == 404
    # Another organization's conversation is a 404 before its body is looked at.
    bad_body = charlie_api.post(f"/v1/conversations/{conv(conversation)}/messages", {"max_steps": 0}, format="json")
    assert bad_body.status_code == 404


def test_agent_files_carry_conversations(
    alice: Any, alice_api: Any, charlie_api: Any, agent: Any, conversation: Any, fake_llm: Any
) -> None:
    import io
    import json

    fake_llm.reply("conversation answer")
    factories.send(alice, agent, "in the conversation", conversation=conversation)
    fake_llm.reply("default answer")
    factories.send(alice, agent, "in the default")
    Conversation.objects.filter(pk=conversation.pk).update(context_summary="earlier: a trip")
    exported = alice_api.get(f"/v1/agents/{public_id('agent', agent.id)}/export").content
    document = json.loads(exported)
    [entry] = document["agents"]
    assert [m["content"][0]["text"] for m in entry["messages"]] == ["in the default", "default answer"]
    [carried] = entry["engram"]["conversations"]
    assert carried["summary"] == "Trip planning" and carried["context_summary"] == "earlier: a trip"
    assert [m["content"][0]["text"] for m in carried["messages"]] == ["in the conversation", "conversation answer"]

    imported = charlie_api.post("/v1/agents/import", {"file": io.BytesIO(exported)}, format="multipart")
    assert imported.status_code == 200, imported.content
    copy_id = imported.json()["agent_ids"][0]
    [copy] = charlie_api.get(f"/v1/conversations/?agent_id={copy_id}").json()
    assert copy["summary"] == "Trip planning" and copy["id"] != conv(conversation)
    texts = [m["content"] for m in charlie_api.get(f"/v1/conversations/{copy['id']}/messages?order=asc").json()]
    assert texts == ["in the conversation", "conversation answer"]
    own = charlie_api.get(f"/v1/conversations/default/messages?agent_id={copy_id}&order=asc").json()
    assert [m["content"] for m in own] == ["in the default", "default answer"]
    assert Conversation.objects.get(pk=_pk(copy["id"])).context_summary == "earlier: a trip"
    assert Message.objects.filter(conversation_id=_pk(copy["id"]), in_context=True).count() == 2


def _pk(public: str) -> Any:
    from lib.ids import parse_id

    return parse_id("conv", public)


def test_fork_starts_from_the_window_and_then_goes_its_own_way(
    alice: Any, alice_api: Any, charlie_api: Any, agent: Any, conversation: Any, fake_llm: Any
) -> None:
    fake_llm.reply("first answer")
    factories.send(alice, agent, "first question", conversation=conversation)
    fake_llm.reply("second answer")
    factories.send(alice, agent, "second question", conversation=conversation)
    first_answer = Message.objects.get(conversation=conversation, text="first answer")
    url = f"/v1/conversations/{conv(conversation)}/fork?message_id={public_id('message', first_answer.id)}"
    assert charlie_api.post(url).status_code == 404
    forked = alice_api.post(url)
    assert forked.status_code == 200, forked.content
    fork = forked.json()
    assert fork["id"] != conv(conversation) and fork["summary"] == "Trip planning"
    listed = alice_api.get(f"/v1/conversations/{fork['id']}/messages?order=asc").json()
    assert [m["content"] for m in listed] == ["first question", "first answer"]
    fake_llm.reply("fork answer")
    factories.send(alice, agent, "fork question", conversation=Conversation.objects.get(pk=_pk(fork["id"])))
    assert not Message.objects.filter(conversation=conversation, text="fork question").exists()
    bad = alice_api.post(f"/v1/conversations/{conv(conversation)}/fork?message_id=message-nonsense")
    assert bad.status_code == 422 and "message_id" in str(bad.json()["detail"])
    default_fork = alice_api.post(f"/v1/conversations/default/fork?agent_id={public_id('agent', agent.id)}")
    assert default_fork.status_code == 200
