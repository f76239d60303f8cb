"""Approvals and client-side tools over HTTP: the toggle, and every bad answer a clear 4xx that changes nothing."""

from typing import Any

import pytest
from rest_framework.test import APIClient

from agents.models import Message, Run
from agents.runtime.loop import run_execute
from lib.ids import parse_id, public_id
from tests import factories
from tests.fakes.llm_server import FakeLLM

pytestmark = pytest.mark.django_db


def url(agent: Any, rest: str = "") -> str:
    return f"/v1/agents/{public_id('agent', agent.id)}{rest}"


def send_async(api: APIClient, agent: Any, body: dict[str, Any]) -> Any:
    response = api.post(url(agent, "/messages/async"), body, format="json")
    if response.status_code == 200:
        run_execute(run_id=parse_id("run", response.json()["id"]), token="test")
    return response


@pytest.fixture
def held(alice: Any, alice_api: APIClient, fake_llm: FakeLLM) -> Any:
    """Alice's agent with memory_insert requiring approval and one call of it waiting."""
    agent = factories.make_agent(alice)
    response = alice_api.patch(url(agent, "/tools/approval/memory_insert"), {"requires_approval": True}, format="json")
    assert response.status_code == 200 and response.json() is None
    fake_llm.tool_call("memory_insert", {"label": "human", "new_string": "x"}, id="call_held")
    assert send_async(alice_api, agent, {"messages": [{"role": "user", "content": "hi"}]}).status_code == 200
    assert Run.objects.get(agent=agent).stop_reason == "requires_approval"
    return agent


def test_the_approval_toggle(alice: Any, alice_api: APIClient) -> None:
    agent = factories.make_agent(alice)
    toggle = url(agent, "/tools/approval/memory_insert")
    assert alice_api.patch(toggle, {"requires_approval": True}, format="json").status_code == 200
    assert alice_api.patch(toggle + "?requires_approval=true", {}, format="json").status_code == 200
    state = alice_api.get(url(agent)).json()
    assert [r for r in state["tool_rules"] if r["type"] == "requires_approval"] == [
        {"type": "requires_approval", "tool_name": "memory_insert"}
    ]
    assert alice_api.patch(toggle, {"requires_approval": False}, format="json").status_code == 200
    assert not [r for r in alice_api.get(url(agent)).json()["tool_rules"] if r["type"] == "requires_approval"]
    response = alice_api.patch(toggle, {}, format="json")
    assert response.status_code == 422 and "requires_approval" in response.json()["detail"]
    response = alice_api.patch(url(agent, "/tools/approval/web_search"), {"requires_approval": True}, format="json")
    assert response.status_code == 404 and "no tool named web_search" in response.json()["detail"]


def test_bad_answers_are_refused_and_change_nothing(alice_api: APIClient, held: Any) -> None:
    before = (Message.objects.filter(agent=held).count(), Run.objects.filter(agent=held).count())
    cases = [
        ({"messages": [{"role": "user", "content": "hello?"}]}, 409, "waiting for approval"),
        (
            {"messages": [{"type": "approval", "approvals": [{"tool_call_id": "call_x", "approve": True}]}]},
            422,
            "call_x is not waiting for approval",
        ),
        ({"messages": [{"type": "approval", "approvals": []}]}, 422, "approvals must be a non-empty list"),
        ({"messages": [{"type": "tool_return", "tool_returns": [{"tool_call_id": "call_held"}]}]}, 422, "status"),
        (
            {
                "messages": [
                    {"type": "approval", "approvals": [{"tool_call_id": "call_held", "approve": True}]},
                    {"role": "user", "content": "and this"},
                ]
            },
            422,
            "cannot be sent together",
        ),
    ]
    for body, status, reason in cases:
        response = send_async(alice_api, held, body)
        assert response.status_code == status, (body, response.content)
        assert reason in response.json()["detail"]
        assert response["x-should-retry"] == "false"
    assert send_async(alice_api, held, cases[0][0]).json()["code"] == "PENDING_APPROVAL"
    assert (Message.objects.filter(agent=held).count(), Run.objects.filter(agent=held).count()) == before


def test_an_answer_when_nothing_waits(alice: Any, alice_api: APIClient) -> None:
    agent = factories.make_agent(alice)
    body = {"messages": [{"type": "approval", "approvals": [{"tool_call_id": "call_1", "approve": False}]}]}
    response = send_async(alice_api, agent, body)
    assert response.status_code == 422 and "no tool call is waiting for approval" in response.json()["detail"]
    assert not Run.objects.filter(agent=agent).exists()


def test_an_outsider_cannot_answer(charlie_api: APIClient, held: Any) -> None:
    body = {"messages": [{"type": "approval", "approvals": [{"tool_call_id": "call_held", "approve": True}]}]}
    assert charlie_api.post(url(held, "/messages/async"), body, format="json").status_code == 404
    assert Run.objects.get(agent=held).approval_due is not None


def test_a_client_tool_with_an_invalid_schema(alice: Any, alice_api: APIClient) -> None:
    agent = factories.make_agent(alice)
    body = {
        "messages": [{"role": "user", "content": "hi"}],
        "client_tools": [{"name": "shell", "parameters": {"type": "object", "properties": {"cmd": "string"}}}],
    }
    response = alice_api.post(url(agent, "/messages/async"), body, format="json")
    assert response.status_code == 422
    assert response.json()["detail"].startswith("client_tools: item 0: parameters properties.cmd must be an object")
    assert not Run.objects.filter(agent=agent).exists() and not Message.objects.filter(agent=agent).exists()


def test_unknown_tool_names_get_letta_s_answer(alice_api: APIClient) -> None:
    body = {"name": "a", "model": "openai/gpt-4o-mini", "tools": ["memory", "fetch_webpage", "no_such_tool"]}
    response = alice_api.post("/v1/agents/", body, format="json")
    assert response.status_code == 400
    assert response.json() == {"detail": "Tools not found by name: {'no_such_tool'}"}
    body["tools"] = ["memory", "memory_apply_patch", "web_search", "fetch_webpage"]
    assert alice_api.post("/v1/agents/", body, format="json").status_code == 200
