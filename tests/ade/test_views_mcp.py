"""The ADE's MCP page: test a server's connection, add it, see its tools with their schemas, attach one to an
agent, refresh, delete; another organization's server is a 404 everywhere."""

import base64
import sys
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from agents.models import MCPServer
from agents.services.mcp import mcp_server_create
from tests.mcp_servers import STDIO_SOURCE, stdio_config

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("close_sessions")]


# Arguments are one per line in the form: the server's source goes in as one line.
ONE_LINE = f"exec(__import__('base64').b64decode('{base64.b64encode(STDIO_SOURCE.encode()).decode()}'))"


def form(**overrides: str) -> dict[str, str]:
    return {
        "server_name": "local",
        "mcp_server_type": "stdio",
        "command": sys.executable,
        "args": f"-c\n{ONE_LINE}",
        "env": "GREETING=hello",
        **overrides,
    }


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_it_tests_adds_and_shows_a_server_and_attaches_a_tool(alice: Any, agent: Any) -> None:
    client = logged_in(alice)
    page = client.get(reverse("ade:mcp"))
    assert page.status_code == 200 and b"No MCP servers yet" in page.content

    tested = client.post(reverse("ade:mcp-test"), form(), HTTP_HX_REQUEST="true")
    assert b"Connected." in tested.content and b"<code>echo</code>" in tested.content
    assert not MCPServer.objects.exists()  # a test stores nothing

    added = client.post(reverse("ade:mcp"), form())
    server = MCPServer.objects.get()
    assert added.status_code == 302 and added["Location"] == reverse("ade:mcp-server", args=[server.id])
    detail = client.get(added["Location"])
    assert b"<code>echo</code>" in detail.content and b"Echo the text back." in detail.content
    assert b"&#x27;required&#x27;: [&#x27;text&#x27;]" in detail.content  # the schema
    assert b"hello" not in detail.content  # the environment value is not shown

    echo = server.tools.get(name="echo")
    attached = client.post(
        reverse("ade:mcp-tool-attach", args=[server.id, echo.id]), {"agent": str(agent.id)}, HTTP_HX_REQUEST="true"
    )
    assert attached.status_code == 200 and b"Attached echo to" in attached.content
    assert agent.tools.filter(pk=echo.pk).exists()

    refreshed = client.post(reverse("ade:mcp-refresh", args=[server.id]), HTTP_HX_REQUEST="true")
    assert b"Refreshed: 0 added, 0 updated, 0 removed." in refreshed.content
    assert client.post(reverse("ade:mcp-delete", args=[server.id])).status_code == 302
    assert not MCPServer.objects.exists() and not agent.tools.filter(name="echo").exists()


def test_a_server_that_cannot_be_used_is_named_and_not_added(alice: Any) -> None:
    client = logged_in(alice)
    tested = client.post(reverse("ade:mcp-test"), form(command="/nonexistent/server"), HTTP_HX_REQUEST="true")
    assert b"Cannot use this server" in tested.content
    bad_env = client.post(reverse("ade:mcp"), form(env="no separator"))
    assert bad_env.status_code == 422 and b"line 1: write NAME=value" in bad_env.content
    assert not MCPServer.objects.exists()


def test_an_outsider_gets_404(alice: Any, charlie: Any, agent: Any) -> None:
    server = mcp_server_create(actor=alice, name="alices-server", config=stdio_config())
    echo = server.tools.get(name="echo")
    client = logged_in(charlie)
    assert b"alices-server" not in client.get(reverse("ade:mcp")).content
    assert client.get(reverse("ade:mcp-server", args=[server.id])).status_code == 404
    assert client.post(reverse("ade:mcp-refresh", args=[server.id])).status_code == 404
    assert client.post(reverse("ade:mcp-delete", args=[server.id])).status_code == 404
    attach = reverse("ade:mcp-tool-attach", args=[server.id, echo.id])
    assert client.post(attach, {"agent": str(agent.id)}).status_code == 404
    assert MCPServer.objects.filter(pk=server.pk).exists() and not agent.tools.filter(pk=echo.pk).exists()


def test_the_import_form_asks_for_an_mcp_servers_credentials(alice: Any, charlie: Any, http_mcp: Any) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    from agents.models import Agent
    from tests.factories import make_agent
    from tests.mcp_servers import TOKEN

    mcp_server_create(actor=alice, name="weather-service", config=http_mcp.config())
    agent = make_agent(alice, tools=["weather"])
    exported = logged_in(alice).get(reverse("ade:agent-export", args=[agent.id])).content
    client = logged_in(charlie)

    def upload(**fields: str) -> Any:
        return client.post(reverse("ade:agent-import"), {"file": SimpleUploadedFile("a.af", exported), **fields})

    asked = upload()
    assert asked.status_code == 422
    assert b"needs credentials the file does not carry: auth_token" in asked.content
    assert b"MCP server credentials" in asked.content
    imported = upload(mcp_credentials=f"weather-service auth_token={TOKEN}")
    assert imported.status_code == 302, imported.content
    copy = Agent.objects.exclude(pk=agent.pk).get()
    weather = copy.tools.get(name="weather")
    assert weather.mcp_server is not None and weather.mcp_server.organization_id == copy.organization_id
    bad = upload(mcp_credentials="weather-service password=x")
    assert bad.status_code == 422 and b"is not auth_token, env.NAME or custom_headers.Name" in bad.content
