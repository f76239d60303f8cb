"""MCP tools against real MCP servers (tests/mcp_servers.py): registered, attached, called by an agent driven by
the scripted LLM; a server that hangs or dies; the stdio sandbox; refresh; credentials at rest."""

import json
import time
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.exceptions import ValidationError

from agents.models import MCPServer, Message, RunStatus, Tool
from agents.services.mcp import mcp_server_create, mcp_server_refresh, mcp_server_update, mcp_tool_run
from tests.mcp_servers import TOKEN, stdio_config

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("close_sessions")]


def tool_of(server: MCPServer, name: str) -> Tool:
    return Tool.objects.get(mcp_server=server, name=name)


def tool_message(run) -> Message:
    return Message.objects.get(run=run, role="tool")


def test_an_agent_calls_a_tool_of_a_stdio_server(alice, make_agent, send, fake_llm):
    server = mcp_server_create(actor=alice, name="local", config=stdio_config())
    echo = tool_of(server, "echo")
    assert echo.tool_type == "external_mcp"
    assert echo.json_schema["parameters"]["properties"] == {"text": {"title": "Text", "type": "string"}}
    assert echo.json_schema["parameters"]["required"] == ["text"]
    assert echo.tags == ["mcp:local"]
    agent = make_agent(tools=["echo"])
    fake_llm.tool_call("echo", {"text": "hello over stdio"})
    fake_llm.reply("It said hello.")
    run = send(agent, "Use echo.")
    assert run.status == RunStatus.COMPLETED
    message = tool_message(run)
    assert (message.text, message.is_err) == ("echo: hello over stdio", False)
    # The model was offered the server's schema.
    offered = {t["function"]["name"]: t["function"] for t in fake_llm.chat_requests()[0]["tools"]}
    assert offered["echo"]["parameters"]["properties"]["text"]["type"] == "string"


def test_an_agent_calls_a_tool_of_a_streamable_http_server_with_a_bearer_token(
    alice, make_agent, send, fake_llm, http_mcp
):
    server = mcp_server_create(actor=alice, name="remote", config=http_mcp.config())
    assert f"Bearer {TOKEN}" in http_mcp.seen_authorization
    agent = make_agent(tools=["weather"])
    fake_llm.tool_call("weather", {"city": "Oslo"})
    fake_llm.reply("Sunny.")
    run = send(agent, "Weather in Oslo?")
    assert (tool_message(run).text, tool_message(run).is_err) == ("Sunny in Oslo", False)
    assert run.status == RunStatus.COMPLETED
    # The token is encrypted at rest.
    stored = MCPServer.objects.get(pk=server.pk)
    assert TOKEN not in stored.secrets_encrypted and stored.secrets_encrypted


def test_an_sse_server_works_too(alice, http_mcp):
    server = mcp_server_create(actor=alice, name="sse", config=http_mcp.config(kind="sse"))
    assert mcp_tool_run(tool=tool_of(server, "weather"), args={"city": "Rome"}).text == "Sunny in Rome"


def test_a_wrong_token_is_refused_and_nothing_is_stored(alice, http_mcp):
    with pytest.raises(ValidationError) as caught:
        mcp_server_create(actor=alice, name="remote", config=http_mcp.config(token="wrong"))
    assert "config" in caught.value.message_dict
    assert "401" in caught.value.message_dict["config"][0]
    assert not MCPServer.objects.exists() and not Tool.objects.filter(tool_type="external_mcp").exists()


def test_a_hanging_server_is_a_tool_error_after_the_timeout_and_the_run_continues(
    alice, make_agent, send, fake_llm, settings
):
    settings.ENGRAM_MCP_TIMEOUT = 2
    mcp_server_create(actor=alice, name="local", config=stdio_config())
    agent = make_agent(tools=["hang", "echo"])
    fake_llm.tool_call("hang", {})
    fake_llm.tool_call("echo", {"text": "still here"})
    fake_llm.reply("Done.")
    started = time.monotonic()
    run = send(agent, "Try hang.")
    elapsed = time.monotonic() - started
    assert run.status == RunStatus.COMPLETED and run.step_count == 3
    results = list(Message.objects.filter(run=run, role="tool").order_by("seq"))
    assert results[0].is_err and "did not answer within 2 s" in results[0].text
    # The hung connection was dropped; the next call opened a new one and worked.
    assert (results[1].text, results[1].is_err) == ("echo: still here", False)
    assert elapsed < 30


def test_a_crashing_server_is_a_tool_error_and_the_next_call_starts_it_again(alice):
    server = mcp_server_create(actor=alice, name="local", config=stdio_config())
    count = tool_of(server, "count")
    assert mcp_tool_run(tool=count, args={}).text == "1"
    assert mcp_tool_run(tool=count, args={}).text == "2"  # the same process: the connection is reused
    crashed = mcp_tool_run(tool=tool_of(server, "crash"), args={})
    assert crashed.is_err and crashed.text.startswith("Error: ")
    assert mcp_tool_run(tool=count, args={}).text == "1"  # a new process


def test_tool_errors_and_bad_arguments_go_back_as_errors(alice):
    server = mcp_server_create(actor=alice, name="local", config=stdio_config())
    failed = mcp_tool_run(tool=tool_of(server, "fail"), args={"reason": "no luck"})
    assert failed.is_err and "no luck" in failed.text
    bad = mcp_tool_run(tool=tool_of(server, "echo"), args={"text": 3})
    assert bad.is_err and "must be of type string" in bad.text


def test_return_char_limit_applies(alice):
    server = mcp_server_create(actor=alice, name="local", config=stdio_config())
    echo = tool_of(server, "echo")
    echo.return_char_limit = 10
    echo.save()
    result = mcp_tool_run(tool=echo, args={"text": "x" * 100})
    assert result.text.startswith("echo: xxxx") and "truncated to 10 characters" in result.text


def test_a_stdio_server_cannot_read_the_data_directory_or_the_servers_environment(alice):
    secret = Path(django_settings.DATA_DIR) / "mcp-secret.txt"
    secret.write_text("top secret")
    source = Path(django_settings.BASE_DIR) / "manage.py"
    server = mcp_server_create(actor=alice, name="local", config=stdio_config(GREETING="hi"))
    read = tool_of(server, "read_file")
    assert mcp_tool_run(tool=read, args={"path": str(secret)}).text == "cannot read: FileNotFoundError"
    assert mcp_tool_run(tool=read, args={"path": str(source)}).text == "cannot read: FileNotFoundError"
    names = json.loads(mcp_tool_run(tool=tool_of(server, "environment"), args={}).text)
    assert "GREETING" in names
    assert not {"SECRET_KEY", "DATABASE_URL", "ENGRAM_DATA_DIR", "OPENAI_API_KEY"} & set(names)


def test_refresh_picks_up_changed_tools_and_keeps_attachments(alice, make_agent, http_mcp):
    server = mcp_server_create(actor=alice, name="remote", config=http_mcp.config())
    agent = make_agent(tools=["weather"])

    def forecast(city: str, days: int) -> str:
        """A forecast."""
        return f"{days} sunny days in {city}"

    http_mcp.mcp.add_tool(forecast)
    try:
        summary = mcp_server_refresh(server=server, agent=agent)
    finally:
        http_mcp.mcp.remove_tool("forecast")
    assert (summary.added, summary.deleted) == (["forecast"], [])
    assert set(agent.tools.values_list("name", flat=True)) >= {"weather", "forecast"}
    result = mcp_tool_run(tool=tool_of(server, "forecast"), args={"city": "Bergen", "days": 2})
    assert result.is_err  # the server no longer has it: the server's answer, as a tool error
    summary = mcp_server_refresh(server=server)
    assert summary.deleted == ["forecast"]
    assert list(agent.tools.values_list("name", flat=True).filter(mcp_server=server)) == ["weather"]


def test_an_update_that_cannot_connect_changes_nothing(alice, http_mcp):
    server = mcp_server_create(actor=alice, name="remote", config=http_mcp.config())
    with pytest.raises(ValidationError):
        mcp_server_update(server=server, config={"auth_token": "wrong"})
    stored = MCPServer.objects.get(pk=server.pk)
    assert stored.secrets_encrypted == server.secrets_encrypted
    assert mcp_tool_run(tool=tool_of(server, "weather"), args={"city": "Oslo"}).text == "Sunny in Oslo"


def test_private_addresses_are_refused_unless_allowed(alice, http_mcp, settings):
    settings.ENGRAM_MCP_ALLOW_PRIVATE = False
    with pytest.raises(ValidationError) as caught:
        mcp_server_create(actor=alice, name="remote", config=http_mcp.config())
    assert "ENGRAM_MCP_ALLOW_PRIVATE" in caught.value.message_dict["config.server_url"][0]
    for url in ("http://169.254.169.254/latest", "http://10.0.0.1/mcp", "http://[::1]:80/mcp", "file:///etc/passwd"):
        with pytest.raises(ValidationError) as caught:
            mcp_server_create(actor=alice, name="x", config={"server_url": url})
        assert "config.server_url" in caught.value.message_dict


def test_an_idle_connection_is_closed_and_the_next_call_opens_another(alice, settings):
    settings.ENGRAM_MCP_IDLE_SECONDS = 1
    server = mcp_server_create(actor=alice, name="local", config=stdio_config())
    count = tool_of(server, "count")
    assert mcp_tool_run(tool=count, args={}).text == "1"
    assert mcp_tool_run(tool=count, args={}).text == "2"  # the same process, within the idle time
    time.sleep(3)
    assert mcp_tool_run(tool=count, args={}).text == "1"  # the idle server was stopped; this is a new one


def test_another_organizations_mcp_tools_are_invisible(alice, charlie):
    from agents.selectors import tool_list, tool_search

    mcp_server_create(actor=alice, name="local", config=stdio_config())
    assert not tool_list(actor=charlie).filter(name="echo").exists()
    assert not [h for h in tool_search(actor=charlie, query="echo") if h.tool.name == "echo"]
    assert [h.tool.name for h in tool_search(actor=alice, query="echo text")][:1] == ["echo"]
