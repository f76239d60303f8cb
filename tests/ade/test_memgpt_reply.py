"""A memgpt agent's reply is shown once: its row's text is what send_message said, so the chat must not add the
send_message call's argument again (nor list the call as a tool call)."""

from typing import Any

import pytest
from django.test import Client

from agents.models import Agent, Message, RunStatus
from agents.runtime.loop import run_execute
from agents.services.agents import agent_create
from agents.services.runs import run_create
from tests.fakes.llm_server import FakeLLM, Reply, ToolCall

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
REPLY = "Quokkas-are-marsupials reply"


@pytest.fixture
def replied(alice: Any, fake_llm: FakeLLM) -> Agent:
    """A memgpt agent that ran one real turn against the fake LLM: inner monologue, then send_message."""
    agent = agent_create(actor=alice, name="Mem", model="openai/gpt-4o-mini", agent_type="memgpt_agent")
    fake_llm.push(Reply(text="Answer the quokka question.", tool_calls=[ToolCall("send_message", {"message": REPLY})]))
    run = run_create(actor=alice, agent=agent, messages=[{"role": "user", "content": "Tell me about quokkas"}])
    run_execute(run_id=run.id, token="test")
    run.refresh_from_db()
    assert (run.status, run.stop_reason) == (RunStatus.COMPLETED, "end_turn")
    # The loop stores the reply as the assistant row's text, beside the send_message call that carried it.
    assistant = Message.objects.get(run=run, role="assistant")
    assert assistant.text == REPLY
    assert assistant.tool_calls[0]["function"]["name"] == "send_message"
    return agent


def test_it_shows_a_memgpt_reply_once_in_the_chat(alice_client: Client, replied: Agent) -> None:
    page = alice_client.get(f"/agents/{replied.id}/messages/?since=0", **HX).content.decode()
    assert "Answer the quokka question." in page
    assert page.count(REPLY) == 1


def test_it_shows_a_memgpt_reply_once_in_the_workspace_page(alice_client: Client, replied: Agent) -> None:
    page = alice_client.get(f"/agents/{replied.id}/").content.decode()
    assert page.count(REPLY) == 1


def test_it_shows_a_memgpt_reply_once_in_recall_results(alice_client: Client, replied: Agent) -> None:
    page = alice_client.get(f"/agents/{replied.id}/recall/?q=marsupials", **HX).content.decode()
    assert page.count(REPLY) == 1


def test_an_outsider_gets_404_for_the_chat_and_recall(charlie: Any, replied: Agent) -> None:
    outsider = Client()
    outsider.force_login(charlie)
    assert outsider.get(f"/agents/{replied.id}/messages/?since=0", **HX).status_code == 404
    assert outsider.get(f"/agents/{replied.id}/recall/?q=marsupials", **HX).status_code == 404
