"""The MCP scenario (tests/api/sdk_mcp_scenario.py) with both Python SDKs against a live server and a real
streamable-HTTP MCP server with a bearer token."""

from typing import Any

import pytest

from tests.api import sdk_mcp_scenario
from tests.fakes.llm_server import FakeLLM
from tests.live import LiveServer
from tests.mcp_servers import TOKEN, HttpMcp
from tests.sdk_runs import run_python_scenario

pytestmark = pytest.mark.slow


def test_the_python_sdk_registers_an_mcp_server_and_an_agent_runs_its_tool(
    daphne_server: LiveServer, fake_llm: FakeLLM, alice: Any, http_mcp: HttpMcp
) -> None:
    run_python_scenario(sdk_mcp_scenario, daphne_server, fake_llm, alice, http_mcp.url, TOKEN)


def test_the_newest_python_sdk_does_too(
    daphne_server: LiveServer, fake_llm: FakeLLM, alice: Any, http_mcp: HttpMcp
) -> None:
    run_python_scenario(sdk_mcp_scenario, daphne_server, fake_llm, alice, http_mcp.url, TOKEN, newest=True)
