"""OpenTelemetry spans: request → run → step → LLM call / tool call / memory search, one trace; off by default."""

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from rest_framework.test import APIClient

from agents.models import Run
from agents.runtime.loop import run_execute
from lib import tracing
from lib.ids import parse_id, public_id
from tests.factories import make_agent, send
from tests.fakes.llm_server import FakeLLM


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    assert tracing.setup(exporter=exporter)
    yield exporter
    tracing.shutdown()


@pytest.mark.django_db
def test_a_message_is_one_trace_from_request_to_tool_and_search(
    alice: Any, alice_api: APIClient, fake_llm: FakeLLM, spans: InMemorySpanExporter
) -> None:
    agent = make_agent(alice, name="traced")
    fake_llm.tool_call("conversation_search", {"query": "tea"})
    fake_llm.reply("found it")
    url = f"/v1/agents/{public_id('agent', agent.id)}/messages/async"
    response = alice_api.post(url, {"messages": [{"role": "user", "content": "what about tea?"}]}, format="json")
    assert response.status_code == 200
    run_id = parse_id("run", response.json()["id"])
    run_execute(run_id=run_id, token="test")  # elsewhere (a worker), later: the trace still continues
    assert Run.objects.get(pk=run_id).status == "completed"

    finished = {s.name: s for s in spans.get_finished_spans()}
    request = finished["POST v1/agents/<str:agent_id>/messages/async"]
    run, llm, tool, search = (
        finished["agent_run"],
        finished["llm_request"],
        finished["tool_execution"],
        finished["memory_search"],
    )
    steps = [s for s in spans.get_finished_spans() if s.name == "agent_step"]
    assert len(steps) == 2
    assert {s.context.trace_id for s in spans.get_finished_spans()} == {request.context.trace_id}
    assert run.parent.span_id == request.context.span_id
    assert all(s.parent.span_id == run.context.span_id for s in steps)
    assert tool.parent.span_id == steps[0].context.span_id
    assert search.parent.span_id == tool.context.span_id
    assert llm.parent.span_id in {s.context.span_id for s in steps}
    assert request.attributes["http.response.status_code"] == 200
    assert run.attributes["run_id"] == str(run_id)
    assert llm.attributes["model"] == "openai/gpt-4o-mini" and llm.attributes["prompt_tokens"] > 0
    assert tool.attributes["tool_name"] == "conversation_search"
    assert search.attributes["mode"] in ("hybrid", "text", "vector")
    assert request.resource.attributes["service.name"] == "engram"


@pytest.mark.django_db
def test_a_failed_llm_call_is_an_error_span(
    alice: Any, fake_llm: FakeLLM, spans: InMemorySpanExporter, settings: Any
) -> None:
    settings.ENGRAM_LLM_MAX_RETRIES = 0
    agent = make_agent(alice, name="failing")
    fake_llm.error(401, "bad key")
    send(alice, agent, "hi")
    [llm] = [s for s in spans.get_finished_spans() if s.name == "llm_request"]
    assert llm.status.status_code.name == "ERROR"


@pytest.mark.django_db
def test_it_is_off_by_default(alice: Any, fake_llm: FakeLLM, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    assert not tracing.setup()
    assert not tracing.enabled()
    fake_llm.reply("hi")
    run = send(alice, make_agent(alice, name="quiet"), "hello")
    assert "trace" not in run.options


def test_the_standard_settings_turn_it_on(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    assert not tracing.wanted()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
    assert tracing.wanted()
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert not tracing.wanted()
    monkeypatch.delenv("OTEL_SDK_DISABLED")
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    assert not tracing.wanted()
