"""The official Python SDK against a live server: letta-client 1.7.12 in this process, and the newest 1.x SDK
in a subprocess when ENGRAM_SDK_NEW_PYTHON names an interpreter that has it (`make test` sets it up)."""

from typing import Any

import pytest

from tests.api import sdk_conversations, sdk_scenario
from tests.fakes.llm_server import FakeLLM
from tests.live import LiveServer
from tests.sdk_runs import run_python_scenario

pytestmark = pytest.mark.slow


def test_the_python_sdk_scenario(daphne_server: LiveServer, fake_llm: FakeLLM, alice: Any) -> None:
    run_python_scenario(sdk_scenario, daphne_server, fake_llm, alice)


def test_the_newest_python_sdk_scenario(daphne_server: LiveServer, fake_llm: FakeLLM, alice: Any) -> None:
    run_python_scenario(sdk_scenario, daphne_server, fake_llm, alice, newest=True)


def test_the_python_sdk_conversations(daphne_server: LiveServer, fake_llm: FakeLLM, alice: Any) -> None:
    run_python_scenario(sdk_conversations, daphne_server, fake_llm, alice)


def test_the_newest_python_sdk_conversations(daphne_server: LiveServer, fake_llm: FakeLLM, alice: Any) -> None:
    run_python_scenario(sdk_conversations, daphne_server, fake_llm, alice, newest=True)
