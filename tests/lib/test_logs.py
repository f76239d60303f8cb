"""Structured logs: one JSON line per request and per run, with the request, organization, agent and run ids."""

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from rest_framework.test import APIClient

from lib import logs
from lib.ids import public_id
from tests.factories import make_agent, send
from tests.fakes.llm_server import FakeLLM


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """What the JSON handler (LOG_FORMAT=json) writes, for every logger."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(logs.ContextFilter())
    handler.setFormatter(logs.JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    yield stream
    root.removeHandler(handler)


def lines(stream: io.StringIO, logger: str | None = None) -> list[dict[str, Any]]:
    parsed = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    return [p for p in parsed if logger is None or p["logger"] == logger]


@pytest.mark.django_db
def test_one_line_per_request_with_its_ids(alice_api: APIClient, alice: Any, json_lines: io.StringIO) -> None:
    agent = make_agent(alice, name="logged")
    agent_id = public_id("agent", agent.id)
    response = alice_api.get(f"/v1/agents/{agent_id}", HTTP_X_REQUEST_ID="trace-abc.123")
    assert response.status_code == 200
    assert response["X-Request-Id"] == "trace-abc.123"
    [line] = lines(json_lines, "engram.request")
    assert line["event"] == "request"
    assert line["request_id"] == "trace-abc.123"
    assert line["organization_id"] == str(agent.organization_id)
    assert line["agent_id"] == agent_id
    assert line["status"] == 200 and line["method"] == "GET"
    assert line["route"] == "v1/agents/<str:agent_id>"
    assert line["duration_ms"] >= 0
    assert line["level"] == "INFO" and line["time"].endswith("+00:00")


@pytest.mark.django_db
def test_a_request_id_is_made_when_none_or_a_bad_one_is_sent(json_lines: io.StringIO) -> None:
    client = APIClient()
    response = client.get("/v1/health/", HTTP_X_REQUEST_ID="bad id\nwith newline")
    made = response["X-Request-Id"]
    assert len(made) == 32 and "\n" not in made
    [line] = lines(json_lines, "engram.request")
    assert line["request_id"] == made
    assert "organization_id" not in line, "no organization for an anonymous request"


@pytest.mark.django_db(transaction=True)  # the run's line is written after its end commits
def test_one_line_per_run_and_the_run_ids_on_its_log_lines(
    alice: Any, fake_llm: FakeLLM, json_lines: io.StringIO, settings: Any
) -> None:
    settings.ENGRAM_LLM_MAX_RETRIES = 0
    agent = make_agent(alice, name="runner")
    fake_llm.reply("hello")
    ok = send(alice, agent, "hi")
    fake_llm.error(400, "bad request")
    failed = send(alice, agent, "again")
    runs = lines(json_lines, "engram.run")
    assert [r["run_id"] for r in runs] == [str(ok.id), str(failed.id)]
    first, second = runs
    assert first["event"] == "run" and first["status"] == "completed" and first["stop_reason"] == "end_turn"
    assert first["agent_id"] == str(agent.id) and first["organization_id"] == str(agent.organization_id)
    assert first["steps"] == 1
    assert first["prompt_tokens"] == ok.prompt_tokens and first["completion_tokens"] == ok.completion_tokens
    assert second["status"] == "failed" and second["stop_reason"] == "llm_api_error"
    # The loop's own warning about the failed step carries the run's ids, though it never names them as fields.
    [warning] = [w for w in lines(json_lines, "agents.runtime.loop") if w["level"] == "WARNING"]
    assert warning["run_id"] == str(failed.id) and warning["agent_id"] == str(agent.id)


def test_bound_ids_nest_and_unwind() -> None:
    with logs.bind(request_id="r1"):
        with logs.bind(run_id="x", agent_id=None):
            assert logs.current() == {"request_id": "r1", "run_id": "x"}
        assert logs.current() == {"request_id": "r1"}
    assert logs.current() == {}


def test_the_text_format_appends_the_ids() -> None:
    record = logging.LogRecord("engram.test", logging.INFO, __file__, 1, "hello %s", ("there",), None)
    with logs.bind(run_id="run-1"):
        logs.ContextFilter().filter(record)
    assert logs.TextFormatter().format(record).endswith("engram.test: hello there [run_id=run-1]")
