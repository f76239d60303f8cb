"""GET /v1/runs/{id}/trace and /v1/steps/{id}/trace: spans and provider traces from Engram's own records."""

from typing import Any

import pytest
from rest_framework.test import APIClient

from agents.models import Step
from lib.ids import public_id
from tests.factories import make_agent, send
from tests.fakes.llm_server import FakeLLM

pytestmark = pytest.mark.django_db


@pytest.fixture
def ran(alice: Any, fake_llm: FakeLLM) -> Any:
    agent = make_agent(alice, name="traced", tags=["ops"])
    fake_llm.tool_call("memory_insert", {"label": "human", "new_string": "likes tea"})
    fake_llm.reply("noted")
    return send(alice, agent, "I like tea")


def test_a_run_trace_has_the_run_its_steps_llm_requests_and_tool_calls(alice_api: APIClient, ran: Any) -> None:
    response = alice_api.get(f"/v1/runs/{public_id('run', ran.id)}/trace")
    assert response.status_code == 200
    spans = response.json()
    names = [s["SpanName"] for s in spans]
    assert names == [
        "agent_run",
        "run_queued",
        "agent_step",
        "llm_request",
        "tool_execution.memory_insert",
        "agent_step",
        "llm_request",
    ]
    assert {s["TraceId"] for s in spans} == {ran.id.hex}
    root = spans[0]
    assert root["ParentSpanId"] == "" and root["StatusCode"] == "Ok"
    assert root["SpanAttributes"]["run_id"] == public_id("run", ran.id)
    assert root["SpanAttributes"]["stop_reason"] == "end_turn"
    steps = list(Step.objects.filter(run=ran).order_by("index"))
    first_step, first_llm, tool = spans[2], spans[3], spans[4]
    assert first_step["ParentSpanId"] == root["SpanId"]
    assert first_llm["ParentSpanId"] == tool["ParentSpanId"] == first_step["SpanId"]
    assert first_step["SpanAttributes"]["step_id"] == public_id("step", steps[0].id)
    assert first_llm["SpanAttributes"]["prompt_tokens"] == steps[0].prompt_tokens
    assert first_llm["Duration"] <= first_step["Duration"]
    assert len({s["SpanId"] for s in spans}) == len(spans)
    assert all(s["Duration"] >= 0 for s in spans)


def test_the_limit_cuts_the_spans(alice_api: APIClient, ran: Any) -> None:
    url = f"/v1/runs/{public_id('run', ran.id)}/trace"
    assert [s["SpanName"] for s in alice_api.get(url, {"limit": 2}).json()] == ["agent_run", "run_queued"]
    bad = alice_api.get(url, {"limit": 0})
    assert bad.status_code == 422 and "limit" in bad.json()["detail"]


def test_a_step_trace_is_the_exact_request_and_response(alice_api: APIClient, ran: Any) -> None:
    step = Step.objects.filter(run=ran).order_by("index").first()
    response = alice_api.get(f"/v1/steps/{public_id('step', step.id)}/trace")
    assert response.status_code == 200
    body = response.json()
    assert body["request_json"] == step.request and body["response_json"] == step.response
    assert body["request_json"]["messages"]
    assert body["step_id"] == public_id("step", step.id) and body["run_id"] == public_id("run", ran.id)
    assert body["agent_tags"] == ["ops"] and body["call_type"] == "agent_step"
    assert body["latency_ms"] == step.latency_ms


def test_an_outsider_gets_404(charlie_api: APIClient, ran: Any) -> None:
    step = Step.objects.filter(run=ran).first()
    assert charlie_api.get(f"/v1/runs/{public_id('run', ran.id)}/trace").status_code == 404
    assert charlie_api.get(f"/v1/steps/{public_id('step', step.id)}/trace").status_code == 404
