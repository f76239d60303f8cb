"""Shared archives through both Python SDKs (tests/api/sdk_archives_scenario.py)."""

from typing import Any

import pytest

from tests.api import sdk_archives_scenario
from tests.fakes.llm_server import FakeLLM
from tests.live import LiveServer
from tests.sdk_runs import run_python_scenario

pytestmark = pytest.mark.slow


def test_archives_through_the_python_sdk(daphne_server: LiveServer, fake_llm: FakeLLM, alice: Any) -> None:
    run_python_scenario(sdk_archives_scenario, daphne_server, fake_llm, alice)


def test_archives_through_the_newest_python_sdk(daphne_server: LiveServer, fake_llm: FakeLLM, alice: Any) -> None:
    run_python_scenario(sdk_archives_scenario, daphne_server, fake_llm, alice, newest=True)
