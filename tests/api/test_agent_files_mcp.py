"""Agent files carry an agent's MCP servers (without credentials) and its MCP tools; import asks for the
credentials, creates the server (or reuses the organization's of the same name) and attaches the tools."""

import io
import json
from typing import Any

import pytest
from rest_framework.test import APIClient

from agents.models import Agent, MCPServer, Tool
from agents.services.mcp import mcp_server_create
from lib.ids import parse_id, public_id
from tests.mcp_servers import TOKEN

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("close_sessions")]


def import_file(client: APIClient, raw: bytes, **fields: Any) -> Any:
    return client.post("/v1/agents/import", {"file": io.BytesIO(raw), **fields}, format="multipart")


@pytest.fixture
def exported(alice: Any, alice_api: APIClient, make_agent_for: Any, http_mcp: Any) -> bytes:
    mcp_server_create(actor=alice, name="weather-service", config=http_mcp.config())
    agent = make_agent_for(alice, tools=["weather"])
    response = alice_api.get(f"/v1/agents/{public_id('agent', agent.id)}/export")
    assert response.status_code == 200
    return response.content


@pytest.fixture
def make_agent_for() -> Any:
    from tests.factories import make_agent

    return make_agent


def test_the_export_names_the_server_and_its_credentials_but_holds_none(exported: bytes, http_mcp: Any) -> None:
    assert TOKEN.encode() not in exported and TOKEN[-4:].encode() not in exported
    document = json.loads(exported)
    [server] = document["mcp_servers"]
    assert server["server_name"] == "weather-service" and server["server_url"] == http_mcp.url
    assert server["engram"]["credentials"] == {"env": [], "auth_token": True, "custom_headers": []}
    [tool] = [t for t in document["tools"] if t["name"] == "weather"]
    assert tool["tool_type"] == "external_mcp" and tool["engram"]["mcp_server_id"] == server["id"]


def test_import_asks_for_the_credentials_then_creates_the_server_and_attaches_its_tools(
    exported: bytes, charlie_api: APIClient, org_b: Any
) -> None:
    refused = import_file(charlie_api, exported)
    assert refused.status_code == 422
    assert "mcp_servers[0]" in refused.json()["errors"] and "auth_token" in refused.json()["detail"]
    assert not MCPServer.objects.filter(organization=org_b).exists()
    assert Agent.objects.count() == 1  # alice's only: nothing half-written

    given = json.dumps({"weather-service": {"auth_token": TOKEN}})
    response = import_file(charlie_api, exported, mcp_credentials=given)
    assert response.status_code == 200, response.content
    agent = Agent.objects.get(pk=parse_id("agent", response.json()["agent_ids"][0]))
    weather = agent.tools.get(name="weather")
    assert weather.mcp_server is not None and weather.mcp_server.organization_id == agent.organization_id
    assert weather.mcp_server.organization_id != Tool.objects.exclude(pk=weather.pk).get(name="weather").organization_id
    server_id = public_id("mcp_server", weather.mcp_server.id)
    ran = charlie_api.post(f"/v1/mcp-servers/{server_id}/tools/weather/run", {"args": {"city": "Oslo"}}, format="json")
    assert ran.json() == {**ran.json(), "status": "success", "func_return": "Sunny in Oslo"}


def test_import_into_the_same_organization_reuses_the_server(exported: bytes, alice_api: APIClient) -> None:
    response = import_file(alice_api, exported, append_copy_suffix="true")
    assert response.status_code == 200, response.content
    assert MCPServer.objects.count() == 1 and Tool.objects.filter(name="weather").count() == 1
    copy = Agent.objects.get(pk=parse_id("agent", response.json()["agent_ids"][0]))
    assert copy.tools.get(name="weather").mcp_server == MCPServer.objects.get()
