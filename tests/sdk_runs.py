"""Running an SDK scenario against the live server: a Python scenario module (tests/*/sdk_*scenario.py: `run(url,
key, ...)` and a `__main__` taking the same arguments) with letta-client 1.7.x in this process or the newest 1.x in a
subprocess, and a TypeScript scenario script in tests/node with node."""

import os
import shutil
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from accounts.services import apikey_create
from tests.fakes.llm_server import FakeLLM
from tests.live import ROOT, LiveServer

NODE_DIR = ROOT / "tests" / "node"


def newest_python() -> str:
    """The interpreter with the newest letta-client: ENGRAM_SDK_NEW_PYTHON, else the repo's .venv-sdk-new."""
    python = os.environ.get("ENGRAM_SDK_NEW_PYTHON") or str(ROOT / ".venv-sdk-new" / "bin" / "python")
    if not Path(python).exists():
        pytest.fail(
            "The newest letta-client is needed: `make .venv-sdk-new/.installed` (make test does it), or set "
            "ENGRAM_SDK_NEW_PYTHON to a Python with letta-client==1.12.1"
        )
    return python


def run_python_scenario(
    scenario: ModuleType, server: LiveServer, fake_llm: FakeLLM, user: Any, *args: str, newest: bool = False
) -> None:
    """Script the fake LLM with `scenario.script_fake_llm`, make `user` an API key, and run the scenario with it:
    in this process (letta-client 1.7.x), or with `newest` as a script under the newest SDK's interpreter."""
    scenario.script_fake_llm(fake_llm)
    name = scenario.__name__.rsplit(".", 1)[-1]
    key = apikey_create(user=user, name=f"{name}-new" if newest else name).raw_key
    if newest:
        result = subprocess.run(
            [newest_python(), str(scenario.__file__), server.url, key, *args],
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
        assert result.returncode == 0, f"{result.stdout}\n{result.stderr}\n{server.log_tail(80)}"
        return
    try:
        scenario.run(server.url, key, *args)
    except Exception:
        print(server.log_tail(80))
        raise


def run_node_scenario(script: str, server: LiveServer, user: Any) -> str:
    """Run tests/node/`script` with node against `server` with a fresh API key of `user`; fail the test unless it
    exits 0. Returns its standard output."""
    node = shutil.which("node")
    if node is None or not (NODE_DIR / "node_modules" / "@letta-ai" / "letta-client").exists():
        pytest.fail("node and tests/node/node_modules are needed: run `npm ci --prefix tests/node` (make test does)")
    key = apikey_create(user=user, name=f"node-{Path(script).stem}").raw_key
    result = subprocess.run(
        [node, script, server.url, key],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}\n{server.log_tail(60)}"
    return result.stdout
