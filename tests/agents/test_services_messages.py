import pytest
from django.core.exceptions import ValidationError

from agents.models import Agent, Message
from agents.runtime import context
from agents.runtime.history import History
from agents.runtime.overview import context_overview
from agents.services.agents import agent_create
from agents.services.messages import MessageSpec, message_create_many, message_update

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent(alice):
    return agent_create(actor=alice, name="a", model="openai/gpt-4o-mini")


def test_an_edit_reaches_the_next_request_and_its_token_count(agent):
    [user] = message_create_many(agent=agent, specs=[MessageSpec(role="user", text="short")])
    before = context_overview(agent=agent).tokens_messages
    version = Agent.objects.get(pk=agent.pk).context_version
    message_update(message=user, message_type="user_message", content="a much longer message " * 20)
    fresh = Agent.objects.get(pk=agent.pk)
    assert fresh.context_version == version + 1
    window = context.in_context_messages(History.of(fresh))
    assert window[0].payload["content"].startswith("a much longer message")
    assert context_overview(agent=fresh).tokens_messages > before + 50


def test_an_edit_of_a_send_message_reply_changes_the_tool_call(agent):
    call = {"id": "c1", "type": "function", "function": {"name": "send_message", "arguments": '{"message": "Hi"}'}}
    [reply] = message_create_many(
        agent=agent, specs=[MessageSpec(role="assistant", text="Hi", reasoning="greet", tool_calls=[call])]
    )
    edited = message_update(message=reply, message_type="assistant_message", content=[{"type": "text", "text": "Yo"}])
    assert edited.text == "Yo"
    assert edited.tool_calls[0]["function"]["arguments"] == '{"message": "Yo"}'
    assert Message.objects.get(pk=reply.pk).reasoning == "greet"


def test_an_edit_drops_the_stale_vector(agent):
    [user] = message_create_many(agent=agent, specs=[MessageSpec(role="user", text="old")])
    Message.objects.filter(pk=user.pk).update(embedding_model="m", embedding_dim=3, embedding_hash="h")
    message_update(message=user, message_type="user_message", content="new")
    stored = Message.objects.get(pk=user.pk)
    assert (stored.text, stored.embedding_model, stored.embedding_dim, stored.embedding_hash) == ("new", "", None, "")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"message_type": "assistant_message", "content": "x"}, "message_type"),
        ({"message_type": "user_message", "content": 3}, "content"),
        ({"message_type": "user_message", "content": []}, "content"),
        ({"message_type": "reasoning_message"}, "message_type"),
        ({"message_type": "hidden_reasoning_message", "content": "x"}, "message_type"),
    ],
)
def test_bad_edits_are_refused_and_change_nothing(agent, kwargs, field):
    [user] = message_create_many(agent=agent, specs=[MessageSpec(role="user", text="old")])
    with pytest.raises(ValidationError) as caught:
        message_update(message=user, **kwargs)
    assert field in caught.value.message_dict
    assert Message.objects.get(pk=user.pk).text == "old"
