"""The letta-client MCP scenario: register an MCP server, list its tools, attach one to an agent and run it, as a
user of the official Python SDK does. Runs in the test process (letta-client 1.7.12) and as a script under the
newest 1.x SDK: `python tests/api/sdk_mcp_scenario.py BASE_URL API_KEY MCP_URL MCP_TOKEN`. Imports only the SDK and
the standard library; the fake LLM must have been scripted with script_fake_llm first."""

from __future__ import annotations

import sys
from typing import Any

REPLY = "It is sunny in Oslo."


def script_fake_llm(fake: Any) -> None:
    fake.tool_call("weather", {"city": "Oslo"})
    fake.reply(REPLY)


def run(base_url: str, api_key: str, mcp_url: str, token: str) -> None:
    from letta_client import Letta, NotFoundError

    client = Letta(base_url=base_url, api_key=api_key, max_retries=0)
    server = client.mcp_servers.create(
        server_name="weather-service",
        config={
            "mcp_server_type": "streamable_http",
            "server_url": mcp_url,
            "auth_header": "Authorization",
            "auth_token": token,
        },
    )
    assert server.id.startswith("mcp_server-") and server.server_name == "weather-service"
    assert server.auth_token != token  # masked
    assert [s.id for s in client.mcp_servers.list()] == [server.id]
    assert client.mcp_servers.retrieve(server.id).server_url == mcp_url

    tools = client.mcp_servers.tools.list(server.id)
    [weather] = [t for t in tools if t.name == "weather"]
    assert weather.tool_type == "external_mcp"
    assert weather.json_schema["parameters"]["properties"]["city"]["type"] == "string"
    assert client.mcp_servers.tools.retrieve(weather.id, mcp_server_id=server.id).name == "weather"
    result = client.mcp_servers.tools.run(weather.id, mcp_server_id=server.id, args={"city": "Rome"})
    assert (result.status, result.func_return) == ("success", "Sunny in Rome")

    agent = client.agents.create(name="mcp-agent", model="openai/gpt-4o-mini", memory_blocks=[])
    client.agents.tools.attach(weather.id, agent_id=agent.id)
    assert "weather" in {t.name for t in client.agents.tools.list(agent.id)}
    response = client.agents.messages.create(
        agent_id=agent.id, messages=[{"role": "user", "content": "Weather in Oslo?"}]
    )
    returns = [m for m in response.messages if m.message_type == "tool_return_message"]
    assert [(r.tool_return, r.status) for r in returns] == [("Sunny in Oslo", "success")], returns
    assert response.messages[-1].content == REPLY

    renamed = client.mcp_servers.update(
        server.id, server_name="weather", config={"mcp_server_type": "streamable_http", "server_url": mcp_url}
    )
    assert renamed.server_name == "weather"
    client.mcp_servers.refresh(server.id)
    client.mcp_servers.delete(server.id)
    try:
        client.mcp_servers.retrieve(server.id)
    except NotFoundError:
        pass
    else:
        raise AssertionError("a deleted MCP server is gone")
    assert "weather" not in {t.name for t in client.agents.tools.list(agent.id)}
    client.agents.delete(agent.id)


if __name__ == "__main__":
    run(*sys.argv[1:5])
    print("scenario passed")
