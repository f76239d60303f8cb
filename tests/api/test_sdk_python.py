"""The official Python SDK against a live server: letta-client 1.7.12 in this process, and the newest 1.x SDK
in a subprocess when ENGRAM_SDK_NEW_PYTHON names an interpreter that has it (`make test` sets it up)."""

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from accounts.services import apikey_create
from tests.api import sdk_conversations, sdk_scenario
from tests.fakes.llm_server import FakeLLM
from tests.live import LiveServer

pytestmark = pytest.mark.slow


def test_the_python_sdk_scenario(daphne_server: LiveServer, fake_llm: FakeLLM, alice: Any) -> None:
    sdk_scenario.script_fake_llm(fake_llm)
    key = apikey_create(user=alice, name="sdk").raw_key
    try:
        sdk_scenario.run(daphne_server.url, key)
    except Exception:
        print(daphne_server.log_tail(80))
        raise


def _newest_python() -> str:
    default = Path(__file__).resolve().parents[2] / ".venv-sdk-new" / "bin" / "python"
    python = os.environ.get("ENGRAM_SDK_NEW_PYTHON") or str(default)
    if not Path(python).exists():
        pytest.fail(
            "The newest letta-client is needed: `make .venv-sdk-new/.installed` (make test does it), or set "
            "ENGRAM_SDK_NEW_PYTHON to a Python with letta-client==1.12.1"
        )
    return python


def test_the_newest_python_sdk_scenario(daphne_server: LiveServer, fake_llm: FakeLLM, alice: Any) -> None:
    python = _newest_python()
    sdk_scenario.script_fake_llm(fake_llm)
    key = apikey_create(user=alice, name="sdk-new").raw_key
    result = subprocess.run(
        [python, str(Path(sdk_scenario.__file__)), daphne_server.url, key],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}\n{daphne_server.log_tail(80)}"


def test_the_python_sdk_conversations(daphne_server: LiveServer, fake_llm: FakeLLM, alice: Any) -> None:
    sdk_conversations.script_fake_llm(fake_llm)
    key = apikey_create(user=alice, name="sdk-conversations").raw_key
    try:
        sdk_conversations.run(daphne_server.url, key)
    except Exception:
        print(daphne_server.log_tail(80))
        raise


def test_the_newest_python_sdk_conversations(daphne_server: LiveServer, fake_llm: FakeLLM, alice: Any) -> None:
    python = _newest_python()
    sdk_conversations.script_fake_llm(fake_llm)
    key = apikey_create(user=alice, name="sdk-new-conversations").raw_key
    result = subprocess.run(
        [python, str(Path(sdk_conversations.__file__)), daphne_server.url, key],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}\n{daphne_server.log_tail(80)}"
