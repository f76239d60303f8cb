"""The rest of what letta-code reads: a Letta-compatible server version on /v1/health/, the agent's secrets, and
the configured providers."""

from typing import Any

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def test_health_reports_a_letta_version_letta_code_does_not_warn_about(client: Any, settings: Any) -> None:
    body = client.get("/v1/health/").json()
    # letta-code 0.32.x warns about a self-hosted server older than 0.16.6.
    assert _version(body["version"]) >= (0, 16, 6)
    assert body["engram_version"] == settings.ENGRAM_VERSION and body["status"] == "ok"


def test_an_agents_secrets_are_listed_by_key(alice_api: APIClient, charlie_api: APIClient) -> None:
    body = {"model": "openai/gpt-4o-mini", "secrets": {"WEATHER_KEY": "abc-123", "UNITS": "metric"}}
    agent_id = alice_api.post("/v1/agents/", body, format="json").json()["id"]
    listed = alice_api.get(f"/v1/agents/{agent_id}/secrets")
    assert listed.status_code == 200
    assert [(s["key"], s["value"], s["agent_id"]) for s in listed.json()] == [
        ("UNITS", "metric", agent_id),
        ("WEATHER_KEY", "abc-123", agent_id),
    ]
    assert charlie_api.get(f"/v1/agents/{agent_id}/secrets").status_code == 404


def test_providers_are_the_configured_ones_without_their_keys(alice_api: APIClient, monkeypatch: Any) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-secret")
    listed = alice_api.get("/v1/providers/")
    assert listed.status_code == 200
    by_name = {p["name"]: p for p in listed.json()}
    assert {"openai", "anthropic"} <= set(by_name)
    assert by_name["anthropic"]["provider_type"] == "anthropic" and by_name["anthropic"]["provider_category"] == "base"
    assert "sk-ant-secret" not in listed.content.decode()
    one = alice_api.get(f"/v1/providers/{by_name['anthropic']['id']}")
    assert one.status_code == 200 and one.json()["name"] == "anthropic"
    assert [p["name"] for p in alice_api.get("/v1/providers?name=anthropic").json()] == ["anthropic"]
    assert alice_api.get("/v1/providers/provider-00000000-0000-0000-0000-000000000000").status_code == 404
    assert APIClient().get("/v1/providers/").status_code in (401, 403)
