"""Folders and files through the official Python SDKs (1.7.12 here, the newest 1.x in a subprocess) against a live
server: upload, background processing to `completed`, attach, the agent's file tools, open and close."""

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from accounts.services import apikey_create
from tests.fakes.llm_server import FakeLLM
from tests.files import sdk_files_scenario
from tests.live import LiveServer

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
    sdk_files_scenario.script_fake_llm(fake_llm)
    key = apikey_create(user=alice, name="sdk-files").raw_key
    try:
        sdk_files_scenario.run(daphne_server.url, key)
    except Exception:
        print(daphne_server.log_tail(80))
        raise
    _check_context(fake_llm)


def test_the_newest_python_sdk_files_scenario(daphne_server: LiveServer, fake_llm: FakeLLM, alice: Any) -> None:
    default = Path(__file__).resolve().parents[2] / ".venv-sdk-new" / "bin" / "python"
    python = os.environ.get("ENGRAM_SDK_NEW_PYTHON") or str(default)
    if not Path(python).exists():
        pytest.fail(
            "The newest letta-client is needed: `make .venv-sdk-new/.installed` (make test does it), or set "
            "ENGRAM_SDK_NEW_PYTHON to a Python with letta-client==1.12.1"
        )
    sdk_files_scenario.script_fake_llm(fake_llm)
    key = apikey_create(user=alice, name="sdk-files-new").raw_key
    result = subprocess.run(
        [python, str(Path(sdk_files_scenario.__file__)), daphne_server.url, key],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}\n{daphne_server.log_tail(80)}"
    _check_context(fake_llm)
