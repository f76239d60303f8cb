"""Rows an older version could store that later input checks refuse (a tool schema whose parameters are a string,
an image part without a usable source): the agent keeps working. The rows are written with the ORM, as that older
version left them; then the agent runs through the real loop against the fake LLM."""

from typing import Any

import pytest

from agents.models import Message, RunStatus, Tool
from agents.services.agents import agent_tool_attach
from agents.services.tools import tool_create
from lib.ids import public_id

pytestmark = pytest.mark.django_db

SHOUT = '''
def shout(text: str) -> str:
    """Shout.

    Args:
        text: What to shout.
    """
    return text.upper()
'''


@pytest.fixture
def agent_with_a_broken_tool(alice: Any, make_agent: Any) -> Any:
    agent = make_agent()
    tool = tool_create(actor=alice, source_code=SHOUT)
    Tool.objects.filter(pk=tool.pk).update(json_schema={"name": "shout", "description": "x", "parameters": "text"})
    agent_tool_attach(agent=agent, tool=Tool.objects.get(pk=tool.pk))
    return agent


def test_a_stored_tool_schema_with_string_parameters_is_a_tool_error_not_a_500(
    agent_with_a_broken_tool: Any, alice_api: Any, fake_llm: Any, send: Any
) -> None:
    agent = agent_with_a_broken_tool
    response = alice_api.post(
        f"/v1/agents/{public_id('agent', agent.id)}/tools/shout/run", {"args": {"text": "hi"}}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "error"
    assert "json_schema.parameters must be an object" in response.json()["func_return"]

    response = alice_api.get(f"/v1/agents/{public_id('agent', agent.id)}/context")
    assert response.status_code == 200, response.content

    fake_llm.tool_call("shout", {"text": "hi"}, id="call_1")
    fake_llm.reply("That tool is broken.")
    run = send(agent, "Shout hi")
    assert run.status == RunStatus.COMPLETED, run.stop_reason
    sent = {t["function"]["name"]: t["function"] for t in fake_llm.chat_requests()[0]["tools"]}
    assert sent["shout"]["parameters"]["type"] == "object"
    tool_message = Message.objects.get(run=run, role="tool")
    assert tool_message.is_err and "json_schema.parameters must be an object" in tool_message.text


def test_a_stored_image_part_without_a_usable_source_does_not_break_the_agent(
    alice: Any, make_agent: Any, alice_api: Any, fake_llm: Any, send: Any, client: Any
) -> None:
    from django.utils import timezone

    from agents.services.messages import seq_allocate

    agent = make_agent()
    # Written with the ORM on purpose: this is a row no current code path writes (an older version or a hand
    # edit of the database), and the point is that the loop survives reading it.
    Message.objects.create(
        organization_id=agent.organization_id,
        agent=agent,
        seq=seq_allocate(agent_id=agent.id, count=1),
        role="user",
        text="look",
        content=[{"type": "image", "source": 5}, "junk", {"type": "text", "text": "look"}, {"type": "image"}],
        in_context=True,
        created_at=timezone.now(),
    )

    fake_llm.reply("I cannot see that image.")
    run = send(agent, "And now?")
    assert run.status == RunStatus.COMPLETED, run.stop_reason
    sent = [m for m in fake_llm.last_chat()["messages"] if m["role"] == "user"]
    assert sent[-2]["content"] == [
        {"type": "text", "text": "[an image that could not be read]"},
        {"type": "text", "text": "look"},
        {"type": "text", "text": "[an image that could not be read]"},
    ]

    for url in (
        f"/v1/agents/{public_id('agent', agent.id)}/context",
        f"/v1/agents/{public_id('agent', agent.id)}/messages",
    ):
        response = alice_api.get(url)
        assert response.status_code == 200, (url, response.content)
    listed = alice_api.get(f"/v1/agents/{public_id('agent', agent.id)}/messages").json()
    first = next(m for m in listed if m["message_type"] == "user_message" and m["content"] != "And now?")
    assert first["content"] == "[an image that could not be read]look[an image that could not be read]"

    client.force_login(alice)
    for panel in ("", "context/", "recall/?q=look"):
        response = client.get(f"/agents/{agent.id}/{panel}")
        assert response.status_code == 200, (panel, response.status_code)
