"""The official TypeScript SDK (@letta-ai/letta-client, pinned in tests/node/package-lock.json) against a live
server. `make test` installs it with `npm ci --prefix tests/node`."""

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from accounts.services import apikey_create
from tests.fakes.llm_server import FakeLLM
from tests.live import LiveServer

pytestmark = pytest.mark.slow
NODE_DIR = Path(__file__).resolve().parent.parent / "node"


def test_the_typescript_sdk_scenario(daphne_server: LiveServer, fake_llm: FakeLLM, alice: Any) -> None:
    node = shutil.which("node")
    if node is None or not (NODE_DIR / "node_modules" / "@letta-ai" / "letta-client").exists():
        pytest.fail("node and tests/node/node_modules are needed: run `npm ci --prefix tests/node` (make test does)")
    fake_llm.reply("Hello, Node.")
    fake_llm.reply("Streaming works token by token from Node.")
    fake_llm.tool_call(
        "memory_replace", {"label": "human", "old_string": "Name: Ada", "new_string": "Name: Ada. Trip: Lisbon"}
    )
    fake_llm.reply("Lisbon noted.")
    fake_llm.reply("Cook for Lisbon: bacalhau.")
    fake_llm.tool_call("memory_insert", {"label": "human", "new_string": "Cat: Tom"}, id="call_ts_approve")
    fake_llm.reply("Saved.")
    fake_llm.tool_call("memory_insert", {"label": "human", "new_string": "Dog: Rex"}, id="call_ts_deny")
    fake_llm.reply("I did not save it.")
    fake_llm.tool_call("get_time", {}, id="call_ts_client")
    fake_llm.reply("It is half past nine.")
    fake_llm.tool_call("memory_insert", {"label": "human", "new_string": "Bird: Tweety"}, id="call_ts_expire")
    fake_llm.reply("Still here.")
    key = apikey_create(user=alice, name="node").raw_key
    result = subprocess.run(
        [node, "scenario.mjs", daphne_server.url, key],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}\n{daphne_server.log_tail(60)}"
    assert "node scenario passed" in result.stdout
