"""/v1/mcp-servers: every route letta-client calls, secrets masked, bad input named, other organizations' 404s."""

from typing import Any

import pytest
from rest_framework.test import APIClient

from agents.models import MCPServer, Tool
from lib.ids import public_id
from tests.mcp_servers import TOKEN, stdio_config

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("close_sessions")]


def create(api: APIClient, name: str, config: dict[str, Any]) -> Any:
    return api.post("/v1/mcp-servers/", {"server_name": name, "config": config}, format="json")


def test_it_registers_a_stdio_server_lists_attaches_and_runs_its_tools(alice_api, agent_a):
    response = create(alice_api, "local", stdio_config(API_KEY="sk-local-secret-value-1234"))
    assert response.status_code == 200, response.content
    server = response.json()
    assert server["id"].startswith("mcp_server-") and server["mcp_server_type"] == "stdio"
    assert server["env"] == {"API_KEY": "****1234"}  # never the value itself
    assert alice_api.get("/v1/mcp-servers/").json() == [server]
    assert alice_api.get(f"/v1/mcp-servers/{server['id']}").json() == server

    tools = alice_api.get(f"/v1/mcp-servers/{server['id']}/tools").json()
    echo = next(t for t in tools if t["name"] == "echo")
    assert echo["tool_type"] == "external_mcp" and echo["json_schema"]["parameters"]["required"] == ["text"]
    assert alice_api.get(f"/v1/mcp-servers/{server['id']}/tools/{echo['id']}").json()["name"] == "echo"

    ran = alice_api.post(
        f"/v1/mcp-servers/{server['id']}/tools/{echo['id']}/run", {"args": {"text": "hi"}}, format="json"
    )
    assert ran.json()["status"] == "success" and ran.json()["func_return"] == "echo: hi"
    by_name = alice_api.post(
        f"/v1/mcp-servers/{server['id']}/tools/fail/run", {"args": {"reason": "no"}}, format="json"
    )
    assert by_name.json()["status"] == "error" and "no" in by_name.json()["func_return"]

    agent_id = public_id("agent", agent_a.id)
    attached = alice_api.patch(f"/v1/agents/{agent_id}/tools/attach/{echo['id']}")
    assert attached.status_code == 200
    assert "echo" in [t["name"] for t in attached.json()["tools"]]


def test_it_updates_a_server_keeping_masked_secrets(alice_api, http_mcp):
    server = create(alice_api, "remote", http_mcp.config()).json()
    assert server["auth_token"] == "****" + TOKEN[-4:] and server["auth_header"] == "Authorization"
    # The client sends back what it read (masked token): the stored token stays.
    config = {
        "mcp_server_type": "streamable_http",
        "server_url": server["server_url"],
        "auth_token": server["auth_token"],
    }
    updated = alice_api.patch(
        f"/v1/mcp-servers/{server['id']}", {"server_name": "renamed", "config": config}, format="json"
    )
    assert updated.status_code == 200, updated.content
    assert updated.json()["server_name"] == "renamed"
    tool = Tool.objects.get(mcp_server__name="renamed", name="weather")
    assert tool.tags == ["mcp:renamed"]
    ran = alice_api.post(f"/v1/mcp-servers/{server['id']}/tools/weather/run", {"args": {"city": "Oslo"}}, format="json")
    assert ran.json()["func_return"] == "Sunny in Oslo"
    bad = alice_api.patch(f"/v1/mcp-servers/{server['id']}", {"config": {"auth_token": "wrong"}}, format="json")
    assert bad.status_code == 422 and "config" in bad.json()["errors"]
    refreshed = alice_api.patch(f"/v1/mcp-servers/{server['id']}/refresh")
    assert refreshed.status_code == 200 and refreshed.json()["tools_deleted"] == []
    assert alice_api.delete(f"/v1/mcp-servers/{server['id']}").status_code == 204
    assert not MCPServer.objects.exists() and not Tool.objects.filter(tool_type="external_mcp").exists()
    assert alice_api.get(f"/v1/mcp-servers/{server['id']}").status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"config": stdio_config()}, "server_name"),
        ({"server_name": "x", "config": "ls"}, "config"),
        ({"server_name": "x", "config": {"mcp_server_type": "ftp"}}, "config.mcp_server_type"),
        ({"server_name": "x", "config": {"mcp_server_type": "stdio"}}, "config.command"),
        ({"server_name": "x", "config": {"command": "x", "args": "-v"}}, "config.args"),
        ({"server_name": "x", "config": {"command": "x", "args": [], "env": {"A B": "1"}}}, "config.env"),
        ({"server_name": "x", "config": {"server_url": "ftp://example.com"}}, "config.server_url"),
        (
            {"server_name": "x", "config": {"server_url": "http://example.com", "custom_headers": {"X": "a\nb"}}},
            "config.custom_headers",
        ),
        (
            {"server_name": "x", "config": {"server_url": "http://example.com", "auth_header": "Bad Header"}},
            "config.auth_header",
        ),
        ({"server_name": "x", "config": {"command": "/nonexistent/server", "args": []}}, "config"),
    ],
)
def test_bad_input_is_a_422_naming_the_field_and_stores_nothing(alice_api, body, field):
    response = alice_api.post("/v1/mcp-servers/", body, format="json")
    assert response.status_code == 422, response.content
    assert field in response.json()["errors"], response.json()
    assert not MCPServer.objects.exists()


def test_a_duplicate_name_is_refused_within_an_organization_only(alice_api, charlie_api):
    assert create(alice_api, "local", stdio_config()).status_code == 200
    again = create(alice_api, "local", stdio_config())
    assert again.status_code == 422 and "server_name" in again.json()["errors"]
    assert create(charlie_api, "local", stdio_config()).status_code == 200


def test_an_outsider_sees_none_of_it(alice_api, charlie_api, bob_api):
    server = create(alice_api, "local", stdio_config()).json()
    assert charlie_api.get("/v1/mcp-servers/").json() == []
    assert [s["id"] for s in bob_api.get("/v1/mcp-servers/").json()] == [server["id"]]  # a teammate does
    base = f"/v1/mcp-servers/{server['id']}"
    for method, url in [
        ("get", base),
        ("patch", base),
        ("delete", base),
        ("patch", f"{base}/refresh"),
        ("get", f"{base}/tools"),
        ("get", f"{base}/tools/echo"),
        ("post", f"{base}/tools/echo/run"),
    ]:
        response = getattr(charlie_api, method)(url, {"args": {"text": "x"}}, format="json")
        assert response.status_code == 404, f"{method} {url}: {response.status_code}"
    assert MCPServer.objects.count() == 1


def test_an_agent_lists_the_servers_of_its_attached_tools(alice_api, charlie_api, agent_a):
    """GET /v1/agents/{id}/mcp-servers (letta-code asks before each turn): servers with a tool on the agent."""
    server = create(alice_api, "local", stdio_config()).json()
    create(alice_api, "unused", stdio_config())
    agent_id = public_id("agent", agent_a.id)
    assert alice_api.get(f"/v1/agents/{agent_id}/mcp-servers").json() == []
    tools = alice_api.get(f"/v1/mcp-servers/{server['id']}/tools").json()
    for tool in tools:
        assert alice_api.patch(f"/v1/agents/{agent_id}/tools/attach/{tool['id']}").status_code == 200
    assert alice_api.get(f"/v1/agents/{agent_id}/mcp-servers").json() == [server]
    assert alice_api.get(f"/v1/agents/{agent_id}/mcp-servers/").json() == [server]
    assert charlie_api.get(f"/v1/agents/{agent_id}/mcp-servers").status_code == 404
