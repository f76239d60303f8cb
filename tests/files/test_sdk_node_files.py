"""Folders and files through the official TypeScript SDK against a live server: upload, processing status
(completed, or error with its reason), list, delete."""

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from accounts.services import apikey_create
from tests.live import LiveServer

pytestmark = pytest.mark.slow
NODE_DIR = Path(__file__).resolve().parent.parent / "node"


def test_the_typescript_sdk_uploads_and_reads_status(daphne_server: LiveServer, alice: Any) -> None:
    node = shutil.which("node")
    if node is None or not (NODE_DIR / "node_modules" / "@letta-ai" / "letta-client").exists():
        pytest.fail("node and tests/node/node_modules are needed: run `npm ci --prefix tests/node` (make test does)")
    key = apikey_create(user=alice, name="node-files").raw_key
    result = subprocess.run(
        [node, "files_scenario.mjs", daphne_server.url, key],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}\n{daphne_server.log_tail(60)}"
    assert "node files scenario passed" in result.stdout
