"""The MCP scenario (tests/api/sdk_mcp_scenario.py) with both Python SDKs against a live server and a real
streamable-HTTP MCP server with a bearer token."""

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from accounts.services import apikey_create
from tests.api import sdk_mcp_scenario
from tests.fakes.llm_server import FakeLLM
from tests.live import LiveServer
from tests.mcp_servers import TOKEN, HttpMcp

pytestmark = pytest.mark.slow


def test_the_python_sdk_registers_an_mcp_server_and_an_agent_runs_its_tool(
    daphne_server: LiveServer, fake_llm: FakeLLM, alice: Any, http_mcp: HttpMcp
) -> None:
    sdk_mcp_scenario.script_fake_llm(fake_llm)
    key = apikey_create(user=alice, name="sdk-mcp").raw_key
    try:
        sdk_mcp_scenario.run(daphne_server.url, key, http_mcp.url, TOKEN)
    except Exception:
        print(daphne_server.log_tail(80))
        raise


def test_the_newest_python_sdk_does_too(
    daphne_server: LiveServer, fake_llm: FakeLLM, alice: Any, http_mcp: HttpMcp
) -> None:
    default = Path(__file__).resolve().parents[2] / ".venv-sdk-new" / "bin" / "python"
    python = os.environ.get("ENGRAM_SDK_NEW_PYTHON") or str(default)
    if not Path(python).exists():
        pytest.fail(
            "The newest letta-client is needed: `make .venv-sdk-new/.installed` (make test does it), or set "
            "ENGRAM_SDK_NEW_PYTHON to a Python with letta-client==1.12.1"
        )
    sdk_mcp_scenario.script_fake_llm(fake_llm)
    key = apikey_create(user=alice, name="sdk-mcp-new").raw_key
    result = subprocess.run(
        [python, str(Path(sdk_mcp_scenario.__file__)), daphne_server.url, key, http_mcp.url, TOKEN],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}\n{daphne_server.log_tail(80)}"
