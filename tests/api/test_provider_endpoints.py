"""Over the REST API: a per-agent base URL is refused unless the operator configured it, and members never see the
operator's internal base URL as `model_endpoint` / `embedding_endpoint`."""

import json
from typing import Any

import pytest
from rest_framework.test import APIClient

from agents.models import Agent
from agents.services.agents import agent_create
from lib.ids import public_id

pytestmark = pytest.mark.django_db

INTERNAL = "http://10.0.0.7:8000/v1"  # the operator's vLLM, not for members' eyes
ELSEWHERE = "https://collector.example.net/v1"


@pytest.fixture
def internal_base(settings: Any) -> str:
    settings.OPENAI_API_BASE = INTERNAL
    return INTERNAL


def test_create_refuses_an_api_base_the_operator_did_not_configure(alice_api: APIClient, internal_base: str) -> None:
    body = {"model": "openai/gpt-4o-mini", "model_settings": {"api_base": ELSEWHERE}}
    response = alice_api.post("/v1/agents", body, format="json")
    assert response.status_code == 422, response.content
    assert "model_settings.api_base" in response.json()["detail"]
    assert "ENGRAM_ALLOWED_API_BASES" in response.json()["detail"]
    assert not Agent.objects.exists()


def test_create_refuses_a_legacy_llm_config_endpoint_elsewhere(alice_api: APIClient, internal_base: str) -> None:
    config = {"model": "gpt-4o-mini", "model_endpoint_type": "openai", "model_endpoint": ELSEWHERE}
    response = alice_api.post("/v1/agents", {"llm_config": config}, format="json")
    assert response.status_code == 422, response.content
    assert "llm_config.model_endpoint" in response.json()["detail"]
    assert not Agent.objects.exists()
    # What Letta's SDK sends for a public model is fine: the handle already leads to the provider.
    config["model_endpoint"] = "https://api.openai.com/v1"
    response = alice_api.post("/v1/agents", {"llm_config": config}, format="json")
    assert response.status_code == 200, response.content
    assert "api_base" not in Agent.objects.get().model_settings


def test_update_refuses_an_api_base_and_keeps_the_agent(alice_api: APIClient, alice: Any, internal_base: str) -> None:
    agent = agent_create(actor=alice, model="openai/gpt-4o-mini", model_settings={"temperature": 0.3})
    response = alice_api.patch(
        f"/v1/agents/{public_id('agent', agent.id)}", {"model_settings": {"api_base": ELSEWHERE}}, format="json"
    )
    assert response.status_code == 422, response.content
    assert "model_settings.api_base" in response.json()["detail"]
    assert Agent.objects.get(pk=agent.pk).model_settings == {"temperature": 0.3}


def test_a_listed_api_base_is_accepted(alice_api: APIClient, settings: Any, internal_base: str) -> None:
    settings.ENGRAM_ALLOWED_API_BASES = [ELSEWHERE]
    body = {"model": "openai/gpt-4o-mini", "model_settings": {"api_base": ELSEWHERE}}
    response = alice_api.post("/v1/agents", body, format="json")
    assert response.status_code == 200, response.content
    assert Agent.objects.get().model_settings == {"api_base": ELSEWHERE}
    assert ELSEWHERE not in json.dumps(response.json())  # configured endpoints are the operator's business


def test_members_never_see_the_internal_base_url(bob_api: APIClient, alice: Any, internal_base: str) -> None:
    agent = agent_create(actor=alice, model="openai/gpt-4o-mini", embedding="openai/text-embedding-3-small")
    reads = [
        bob_api.get(f"/v1/agents/{public_id('agent', agent.id)}"),
        bob_api.get("/v1/agents"),
        bob_api.get("/v1/models"),
        bob_api.get("/v1/models/embedding"),
        bob_api.get(f"/v1/agents/{public_id('agent', agent.id)}/export"),
    ]
    for response in reads:
        assert response.status_code == 200, response.content
        assert "10.0.0.7" not in response.content.decode()
    state = reads[0].json()
    # The field Letta's SDK expects is there; null says "not disclosed" (the SDK types it Optional[str]).
    assert state["llm_config"]["model_endpoint"] is None
    assert state["embedding_config"]["embedding_endpoint"] is None
    assert {m["model_endpoint"] for m in reads[2].json() if m["provider_name"] == "openai"} == {None}


def test_a_public_provider_shows_its_public_endpoint(bob_api: APIClient, alice: Any, settings: Any) -> None:
    settings.OPENAI_API_BASE = ""
    agent = agent_create(actor=alice, model="anthropic/claude-haiku-4-5")
    state = bob_api.get(f"/v1/agents/{public_id('agent', agent.id)}").json()
    assert state["llm_config"]["model_endpoint"] == "https://api.anthropic.com/v1"
    agent = agent_create(actor=alice, model="openai/gpt-4o-mini")
    state = bob_api.get(f"/v1/agents/{public_id('agent', agent.id)}").json()
    assert state["llm_config"]["model_endpoint"] == "https://api.openai.com/v1"
