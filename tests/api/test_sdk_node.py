"""The official TypeScript SDK (@letta-ai/letta-client, pinned in tests/node/package-lock.json) against a live
server. `make test` installs it with `npm ci --prefix tests/node`."""

from typing import Any

import pytest

from tests.fakes.llm_server import FakeLLM
from tests.live import LiveServer
from tests.sdk_runs import run_node_scenario

pytestmark = pytest.mark.slow


def test_the_typescript_sdk_scenario(daphne_server: LiveServer, fake_llm: FakeLLM, alice: Any) -> None:
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
    assert "node scenario passed" in run_node_scenario("scenario.mjs", daphne_server, alice)
