"""A provider failure reaches members as a short reason; litellm's text, tracebacks, paths and the operator's
internal base URL go to the log only (runs, steps, API reads, events, the ADE run panel, embedding errors)."""

import json
import logging
import socket
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from agents.models import Agent, RunStatus, Step
from lib.ids import public_id
from memory.embeddings import EmbeddingError, embed_texts
from tests.fakes.llm_server import FakeLLM, Reply

pytestmark = pytest.mark.django_db

LEAKS = ("Traceback", "litellm", "Hosted_vllm", "Exception", ".py", "/v1", "127.0.0.1", "sk-abc")


def assert_clean(text: str, fake: FakeLLM) -> None:
    for leak in (*LEAKS, fake.base_url, fake.url):
        assert leak not in text, f"{leak!r} leaked in {text[:2000]!r}"


def read_everything(api: APIClient, page: Client, agent: Any, run: Any) -> str:
    """Every place a member can read a failed run: run, steps, messages, the ADE panels."""
    bodies = [
        api.get(f"/v1/runs/{public_id('run', run.id)}"),
        api.get(f"/v1/runs/{public_id('run', run.id)}/steps"),
        api.get(f"/v1/steps?agent_id={public_id('agent', agent.id)}"),
        api.get(f"/v1/agents/{public_id('agent', agent.id)}/messages"),
        page.get(f"/agents/{agent.id}/runs/"),
        page.get(f"/agents/{agent.id}/runs/{run.id}/steps/"),
        page.get(f"/agents/{agent.id}/"),
    ]
    for response in bodies:
        assert response.status_code == 200, (response.request, response.content[:500])
    return "\n".join(response.content.decode() for response in bodies)


@pytest.fixture
def page(client: Client, alice: Any) -> Client:
    client.force_login(alice)
    return client


def test_a_401_reaches_members_as_a_short_reason_and_the_log_keeps_the_rest(
    fake_llm: FakeLLM,
    make_agent: Any,
    send: Any,
    bob_api: APIClient,
    page: Client,
    caplog: pytest.LogCaptureFixture,
) -> None:
    agent = make_agent()
    fake_llm.error(401, "Incorrect API key provided: sk-abc***xyz", error_type="authentication_error")
    with caplog.at_level(logging.WARNING, logger="agents.runtime.loop"):
        run = send(agent, "hi")
    reason = "the model provider returned 401 (authentication failed)"
    assert (run.status, run.stop_reason, run.error) == (RunStatus.FAILED, "llm_api_error", reason)
    assert Step.objects.get(run=run).error == reason
    everything = read_everything(bob_api, page, agent, run)
    assert reason in everything
    assert f"Run failed: {reason}" in page.get(f"/agents/{agent.id}/").content.decode()  # the chat's run note
    assert_clean(everything, fake_llm)
    # The operator still has the provider's own account of it.
    assert "Incorrect API key provided" in caplog.text and "AuthenticationError" in caplog.text


def test_a_timeout_says_how_long_the_server_waited(
    fake_llm: FakeLLM, make_agent: Any, send: Any, settings: Any, alice_api: APIClient, page: Client
) -> None:
    settings.ENGRAM_LLM_TIMEOUT = 1
    settings.ENGRAM_LLM_MAX_RETRIES = 0
    agent = make_agent()
    fake_llm.push(Reply(text="too late", delay=3))
    run = send(agent, "hi")
    assert (run.status, run.error) == (RunStatus.FAILED, "the model provider did not answer within 1 s")
    everything = read_everything(alice_api, page, agent, run)
    assert "did not answer within 1 s" in everything
    assert_clean(everything, fake_llm)


def test_a_server_error_after_retries_names_only_the_status(
    fake_llm: FakeLLM, make_agent: Any, send: Any, settings: Any, alice_api: APIClient
) -> None:
    settings.ENGRAM_LLM_MAX_RETRIES = 1
    settings.ENGRAM_LLM_RETRY_BACKOFF_MS = 0
    agent = make_agent()
    fake_llm.default = Reply(error_status=503, error_body={"error": {"message": "at /srv/vllm/engine.py: boom"}})
    run = send(agent, "hi")
    assert run.error == "the model provider returned 503 (server error)"
    body = json.dumps(alice_api.get(f"/v1/runs/{public_id('run', run.id)}").json())
    assert "503 (server error)" in body
    assert_clean(body, fake_llm)
    assert "engine" not in body


def test_an_embedding_provider_failure_is_short(settings: Any) -> None:
    with socket.socket() as sock:  # a port nobody listens on: the provider cannot be reached
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.OPENAI_API_BASE = f"http://127.0.0.1:{port}/v1"
    settings.ENGRAM_LLM_TIMEOUT = 5
    with pytest.raises(EmbeddingError) as error:
        embed_texts("openai/text-embedding-3-small", ["a fact"])
    message = str(error.value)
    assert message == "embedding model 'openai/text-embedding-3-small' failed: the model provider could not be reached"


def test_a_bug_during_a_run_is_reported_without_its_exception_text(
    fake_llm: FakeLLM, make_agent: Any, send: Any, alice_api: APIClient, caplog: pytest.LogCaptureFixture
) -> None:
    agent = make_agent()
    # A corrupt row (written behind the services' back) stands in for any bug: the loop cannot parse it.
    Agent.objects.filter(pk=agent.pk).update(tool_rules=[1])
    with caplog.at_level(logging.ERROR, logger="agents.runtime.loop"):
        run = send(agent, "hi")
    assert (run.status, run.stop_reason) == (RunStatus.FAILED, "error")
    assert run.error == "the server failed while running this agent; the details are in the server log"
    body = json.dumps(alice_api.get(f"/v1/runs/{public_id('run', run.id)}").json())
    assert "AttributeError" not in body and "'int' object" not in body
    assert "AttributeError" in caplog.text  # the traceback is the operator's


def test_the_step_event_carries_the_short_reason(
    fake_llm: FakeLLM, make_agent: Any, send: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    from tests.agents.runtime.test_loop import drain

    agent = make_agent()
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(f"agent.{agent.id}", channel)
    fake_llm.error(401, "Incorrect API key provided: sk-abc***xyz")
    with django_capture_on_commit_callbacks(execute=True):
        send(agent, "hi")
    received = drain(layer, channel)
    steps = [e for e in received if e["type"] == "agent.step"]
    assert [e["error"] for e in steps] == ["the model provider returned 401 (authentication failed)"]
    assert_clean(json.dumps(received), fake_llm)
