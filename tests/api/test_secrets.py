"""Agents' secrets: the environment variables their custom tools run with, encrypted at rest."""

from typing import Any

import pytest
from rest_framework.test import APIClient

from agents.models import Agent, AgentSecret
from lib.crypto import decrypt
from lib.ids import parse_id

pytestmark = pytest.mark.django_db


def secrets_of(state: dict[str, Any]) -> dict[str, str]:
    return {item["key"]: item["value"] for item in state["secrets"]}


def test_secrets_are_set_shown_replaced_and_encrypted_at_rest(alice_api: APIClient) -> None:
    body = {"model": "openai/gpt-4o-mini", "secrets": {"WEATHER_KEY": "abc-123", "UNITS": "metric"}}
    state = alice_api.post("/v1/agents/", body, format="json").json()
    assert secrets_of(state) == {"UNITS": "metric", "WEATHER_KEY": "abc-123"}
    assert state["tool_exec_environment_variables"] == state["secrets"]
    assert {item["agent_id"] for item in state["secrets"]} == {state["id"]}
    agent_id = state["id"]

    stored = AgentSecret.objects.get(agent_id=parse_id("agent", agent_id), key="WEATHER_KEY")
    assert "abc-123" not in stored.value_encrypted
    assert decrypt(stored.value_encrypted) == "abc-123"

    # Other changes leave them alone; a new set (either field name) replaces them.
    state = alice_api.patch(f"/v1/agents/{agent_id}", {"name": "renamed"}, format="json").json()
    assert secrets_of(state) == {"UNITS": "metric", "WEATHER_KEY": "abc-123"}
    changed = {"tool_exec_environment_variables": {"WEATHER_KEY": "new-key"}}
    state = alice_api.patch(f"/v1/agents/{agent_id}", changed, format="json").json()
    assert secrets_of(state) == {"WEATHER_KEY": "new-key"}
    assert secrets_of(alice_api.get(f"/v1/agents/{agent_id}").json()) == {"WEATHER_KEY": "new-key"}
    assert secrets_of(alice_api.get("/v1/agents/").json()[0]) == {"WEATHER_KEY": "new-key"}
    state = alice_api.patch(f"/v1/agents/{agent_id}", {"secrets": {}}, format="json").json()
    assert state["secrets"] == [] and not AgentSecret.objects.exists()


@pytest.mark.parametrize(
    ("secrets", "reason"),
    [
        ({"1ST": "x"}, "is not an environment variable name"),
        ({"BAD-NAME": "x"}, "is not an environment variable name"),
        ({"OK": "x" * 10_001}, "at most 10000"),
        ({f"K{i}": "x" for i in range(101)}, "at most 100 variables"),
    ],
)
def test_bad_secrets_are_refused_and_nothing_is_written(alice_api: APIClient, secrets: Any, reason: str) -> None:
    response = alice_api.post("/v1/agents/", {"model": "openai/gpt-4o-mini", "secrets": secrets}, format="json")
    assert response.status_code == 422
    assert "secrets" in response.json()["detail"] and reason in str(response.json()["detail"])
    assert not Agent.objects.exists() and not AgentSecret.objects.exists()

    agent_id = alice_api.post("/v1/agents/", {"secrets": {"KEEP": "me"}}, format="json").json()["id"]
    response = alice_api.patch(f"/v1/agents/{agent_id}", {"name": "changed", "secrets": secrets}, format="json")
    assert response.status_code == 422
    state = alice_api.get(f"/v1/agents/{agent_id}").json()
    assert secrets_of(state) == {"KEEP": "me"} and state["name"] != "changed"


def test_a_value_that_is_not_a_string_is_refused(alice_api: APIClient) -> None:
    response = alice_api.post("/v1/agents/", {"secrets": {"K": {"nested": 1}}}, format="json")
    assert response.status_code == 422 and "secrets" in str(response.json()["detail"])
    assert not Agent.objects.exists()
