"""Model handles and settings from Letta's shapes have one home, agents.model_settings, used by the API's create
and modify and by agent-file import; the setting keys are one list there."""

import json
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from agents.model_settings import (
    LETTA_SETTING_KEYS,
    MODEL_SETTING_KEYS,
    REQUEST_SETTING_KEYS,
    context_window_from_letta,
    embedding_handle_from_letta,
    model_handle_from_letta,
    model_settings_from_letta,
)
from agents.models import Agent
from lib.ids import parse_id
from tests.api.test_agent_files import _edit, upload

LLM_CONFIG = {"model": "gpt-4o-mini", "model_endpoint_type": "openai", "context_window": 16000, "temperature": 0.3}


def test_handles_come_from_the_field_or_the_legacy_config() -> None:
    assert model_handle_from_letta({"model": "anthropic/claude-haiku-4-5", "llm_config": LLM_CONFIG}) == (
        "anthropic/claude-haiku-4-5"
    )
    assert model_handle_from_letta({"llm_config": {**LLM_CONFIG, "handle": "openai/gpt-4o"}}) == "openai/gpt-4o"
    assert model_handle_from_letta({"llm_config": {"model": "llama3", "model_endpoint_type": "ollama"}}) == (
        "ollama/llama3"
    )
    assert model_handle_from_letta({}) is None
    assert embedding_handle_from_letta({"embedding_config": {"embedding_model": "text-embedding-3-small"}}) == (
        "openai/text-embedding-3-small"
    )
    assert context_window_from_letta({"llm_config": LLM_CONFIG}) == 16000
    assert context_window_from_letta({"context_window_limit": 8000, "llm_config": LLM_CONFIG}) == 8000


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"llm_config": "gpt-4o"}, "agents[0].llm_config"),
        ({"llm_config": {"handle": 5}}, "agents[0].llm_config.handle"),
        ({"embedding_config": {"embedding_model": "m", "embedding_endpoint_type": 3}}, "agents[0].embedding_config"),
    ],
)
def test_a_malformed_shape_names_its_path(data: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        model_handle_from_letta(data, prefix="agents[0]")
        embedding_handle_from_letta(data, prefix="agents[0]")
    assert any(key.startswith(field) for key in caught.value.message_dict)


def test_settings_come_from_llm_config_then_model_settings_then_max_tokens() -> None:
    data = {
        "llm_config": {**LLM_CONFIG, "parallel_tool_calls": True},
        "model_settings": {"temperature": 0.9, "strict": True, "provider_type": "openai"},
        "max_tokens": 512,
    }
    assert model_settings_from_letta(data, model="openai/gpt-4o-mini") == {
        "temperature": 0.9,
        "parallel_tool_calls": True,
        "max_tokens": 512,
    }
    assert model_settings_from_letta({"name": "x"}, model="openai/gpt-4o-mini") is None


def test_the_setting_lists_agree() -> None:
    # What is read from Letta and what is sent with a request must be settings an agent may hold.
    assert set(LETTA_SETTING_KEYS) <= MODEL_SETTING_KEYS
    assert set(REQUEST_SETTING_KEYS) <= MODEL_SETTING_KEYS


@pytest.mark.django_db
def test_the_api_and_an_agent_file_read_a_legacy_llm_config_alike(alice_api: Any) -> None:
    created = alice_api.post("/v1/agents", {"name": "legacy", "llm_config": LLM_CONFIG}, format="json")
    assert created.status_code == 200, created.content
    api_agent = Agent.objects.get(pk=parse_id("agent", created.json()["id"]))
    imported = upload(alice_api, _edit(lambda d: d["agents"][0].update(llm_config=LLM_CONFIG)))
    assert imported.status_code == 200, imported.content
    file_agent = Agent.objects.get(pk=parse_id("agent", imported.json()["agent_ids"][0]))
    assert (api_agent.model, api_agent.context_window_limit) == (file_agent.model, file_agent.context_window_limit)
    assert api_agent.model_settings == file_agent.model_settings == {"temperature": 0.3}
    assert created.json()["llm_config"]["temperature"] == 0.3


@pytest.mark.django_db
def test_a_request_carries_the_agents_request_settings(fake_llm, make_agent, send) -> None:
    agent = make_agent(model_settings={"top_p": 0.5, "seed": 7, "presence_penalty": 0.1, "max_tokens": 300})
    send(agent, "hi")
    body = fake_llm.chat_requests()[-1]
    assert (body["top_p"], body["seed"], body["presence_penalty"]) == (0.5, 7, 0.1)
    assert json.dumps(body).count('"top_p"') == 1
