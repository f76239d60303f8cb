"""Shared archives through both Python SDKs (tests/api/sdk_archives_scenario.py)."""

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from accounts.services import apikey_create
from tests.api import sdk_archives_scenario
from tests.fakes.llm_server import FakeLLM
from tests.live import LiveServer

pytestmark = pytest.mark.slow


def test_archives_through_the_python_sdk(daphne_server: LiveServer, fake_llm: FakeLLM, alice: Any) -> None:
    sdk_archives_scenario.script_fake_llm(fake_llm)
    key = apikey_create(user=alice, name="sdk").raw_key
    try:
        sdk_archives_scenario.run(daphne_server.url, key)
    except Exception:
        print(daphne_server.log_tail(80))
        raise


def test_archives_through_the_newest_python_sdk(daphne_server: LiveServer, fake_llm: FakeLLM, alice: Any) -> None:
    default = Path(__file__).resolve().parents[2] / ".venv-sdk-new" / "bin" / "python"
    python = os.environ.get("ENGRAM_SDK_NEW_PYTHON") or str(default)
    if not Path(python).exists():
        pytest.fail(
            "The newest letta-client is needed: set ENGRAM_SDK_NEW_PYTHON to a Python with letta-client==1.12.1"
        )
    sdk_archives_scenario.script_fake_llm(fake_llm)
    key = apikey_create(user=alice, name="sdk-new").raw_key
    result = subprocess.run(
        [python, str(Path(sdk_archives_scenario.__file__)), daphne_server.url, key],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}\n{daphne_server.log_tail(80)}"
