"""Rows an older version could store that later input checks refuse (a tool schema whose parameters are a string,
an image part without a usable source): the agent keeps working. The rows are written with the ORM, as that older
version left them; then the agent runs through the real loop against the fake LLM."""

from typing import Any

import pytest

from agents.models import Message, RunStatus, Tool
from agents.services.agents import agent_tool_attach
from agents.services.tools import tool_create

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
    response = alice_api.post(f"/v1/agents/agent-{agent.id}/tools/shout/run", {"args": {"text": "hi"}}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "error"
    assert "json_schema.parameters must be an object" in response.json()["func_return"]

    response = alice_api.get(f"/v1/agents/agent-{agent.id}/context")
    assert response.status_code == 200, response.content

    fake_llm.tool_call("shout", {"text": "hi"}, id="call_1")
    fake_llm.reply("That tool is broken.")
    run = send(agent, "Shout hi")
    assert run.status == RunStatus.COMPLETED, run.stop_reason
    sent = {t["function"]["name"]: t["function"] for t in fake_llm.chat_requests()[0]["tools"]}
    assert sent["shout"]["parameters"]["type"] == "object"
    tool_message = Message.objects.get(run=run, role="tool")
    assert tool_message.is_err and "json_schema.parameters must be an object" in tool_message.text
