"""GET /metrics: the Prometheus series of requests, runs, steps, LLM and tool calls, and who may read them."""

import ipaddress
from typing import Any

import pytest
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from tests.factories import make_agent, send
from tests.fakes.llm_server import FakeLLM

pytestmark = pytest.mark.django_db(transaction=True)


def scrape(client: Client, **headers: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_it_shows_the_run_its_steps_and_llm_calls(alice: Any, fake_llm: FakeLLM, client: Client) -> None:
    agent = make_agent(alice, name="metered")
    before = scrape(client)
    fake_llm.tool_call("memory_insert", {"label": "human", "new_string": "likes tea"})
    fake_llm.reply("noted")
    run = send(alice, agent, "remember that I like tea")
    assert run.status == "completed"
    after = scrape(client)

    assert value(after, "engram_runs_total", status="completed", stop_reason="end_turn") == (
        value(before, "engram_runs_total", status="completed", stop_reason="end_turn") + 1
    )
    model = "openai/gpt-4o-mini"
    assert value(after, "engram_steps_total", model=model, outcome="ok") == (
        value(before, "engram_steps_total", model=model, outcome="ok") + 2
    )
    assert value(after, "engram_llm_calls_total", model=model, outcome="ok") >= (
        value(before, "engram_llm_calls_total", model=model, outcome="ok") + 2
    )
    prompt_tokens = run.prompt_tokens
    assert prompt_tokens > 0
    assert value(after, "engram_llm_tokens_total", model=model, kind="prompt") >= (
        value(before, "engram_llm_tokens_total", model=model, kind="prompt") + prompt_tokens
    )
    assert value(after, "engram_llm_call_duration_seconds_count", model=model) >= (
        value(before, "engram_llm_call_duration_seconds_count", model=model) + 2
    )
    assert value(after, "engram_tool_calls_total", tool="memory_insert", outcome="ok") == (
        value(before, "engram_tool_calls_total", tool="memory_insert", outcome="ok") + 1
    )
    assert (
        value(after, "engram_run_queue_wait_seconds_count") >= value(before, "engram_run_queue_wait_seconds_count") + 1
    )
    # The present-state gauges are read at the scrape: nothing is waiting now.
    assert value(after, "engram_runs_waiting", state="running") == 0
    assert ("engram_runs_waiting", (("state", "queued"),)) in after


def test_it_counts_failed_llm_calls_and_failed_runs(
    alice: Any, fake_llm: FakeLLM, client: Client, settings: Any
) -> None:
    settings.ENGRAM_LLM_MAX_RETRIES = 0
    agent = make_agent(alice, name="failing")
    before = scrape(client)
    fake_llm.error(401, "bad key")
    run = send(alice, agent, "hello")
    assert run.status == "failed"
    after = scrape(client)
    model = "openai/gpt-4o-mini"
    assert value(after, "engram_llm_calls_total", model=model, outcome="error") == (
        value(before, "engram_llm_calls_total", model=model, outcome="error") + 1
    )
    assert value(after, "engram_llm_errors_total", model=model, reason="401") == (
        value(before, "engram_llm_errors_total", model=model, reason="401") + 1
    )
    assert value(after, "engram_runs_total", status="failed", stop_reason="llm_api_error") == (
        value(before, "engram_runs_total", status="failed", stop_reason="llm_api_error") + 1
    )
    assert value(after, "engram_steps_total", model=model, outcome="error") == (
        value(before, "engram_steps_total", model=model, outcome="error") + 1
    )


def test_it_counts_requests_by_route_and_status(alice_api: Any, client: Client) -> None:
    before = scrape(client)
    assert alice_api.get("/v1/agents/").status_code == 200
    assert alice_api.get("/v1/agents/agent-00000000-0000-4000-8000-000000000000").status_code == 404
    after = scrape(client)
    listing = {"route": "v1/agents/", "method": "GET", "status": "200"}
    assert (
        value(after, "engram_http_requests_total", **listing)
        == value(before, "engram_http_requests_total", **listing) + 1
    )
    missing = [k for k in after if k[0] == "engram_http_requests_total" and ("status", "404") in k[1]]
    assert missing, "the 404 is counted under its route pattern"
    assert all("agent-0000" not in dict(k[1])["route"] for k in missing), "routes are patterns, never paths"


def test_it_refuses_other_addresses_without_the_token(client: Client, settings: Any) -> None:
    settings.ENGRAM_METRICS_ALLOWED_IPS = [ipaddress.ip_network("10.0.0.0/8")]
    settings.ENGRAM_METRICS_TOKEN = "s3cret-scrape-token"
    response = client.get("/metrics", REMOTE_ADDR="192.0.2.7")
    assert response.status_code == 403
    assert "ENGRAM_METRICS_TOKEN" in response.json()["detail"]
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.7", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    good = client.get("/metrics", REMOTE_ADDR="192.0.2.7", HTTP_AUTHORIZATION="Bearer s3cret-scrape-token")
    assert good.status_code == 200
    assert b"engram_http_requests_total" in good.content
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200


def test_it_is_not_served_to_an_api_key_alone(alice_api: Any, settings: Any) -> None:
    settings.ENGRAM_METRICS_ALLOWED_IPS = []
    settings.ENGRAM_METRICS_TOKEN = ""
    assert alice_api.get("/metrics").status_code == 403
