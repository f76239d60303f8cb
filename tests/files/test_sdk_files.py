"""Folders and files through the official Python SDKs (1.7.12 here, the newest 1.x in a subprocess) against a live
server: upload, background processing to `completed`, attach, the agent's file tools, open and close."""

from typing import Any

import pytest

from tests.fakes.llm_server import FakeLLM
from tests.files import sdk_files_scenario
from tests.live import LiveServer
from tests.sdk_runs import run_python_scenario

pytestmark = pytest.mark.slow


def _system_prompts(fake_llm: FakeLLM) -> list[str]:
    return [str(body["messages"][0]["content"]) for body in fake_llm.chat_requests()]


def _check_context(fake_llm: FakeLLM) -> None:
    prompts = _system_prompts(fake_llm)
    assert len(prompts) == 6
    # Before open_files the facts file is listed closed; the request after it shows lines 5-7 in the window.
    assert '<file status="closed" name="mission/facts.md"/>' in prompts[0]
    assert "ZEBRA-42" not in prompts[4]
    assert '<file status="open" name="mission/facts.md">' in prompts[5]
    assert "7: The launch code for the rocket is ZEBRA-42" in prompts[5]


def test_the_python_sdk_files_scenario(daphne_server: LiveServer, fake_llm: FakeLLM, alice: Any) -> None:
    run_python_scenario(sdk_files_scenario, daphne_server, fake_llm, alice)
    _check_context(fake_llm)


def test_the_newest_python_sdk_files_scenario(daphne_server: LiveServer, fake_llm: FakeLLM, alice: Any) -> None:
    run_python_scenario(sdk_files_scenario, daphne_server, fake_llm, alice, newest=True)
    _check_context(fake_llm)
