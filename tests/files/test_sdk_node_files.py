"""Folders and files through the official TypeScript SDK against a live server: upload, processing status
(completed, or error with its reason), list, delete."""

from typing import Any

import pytest

from tests.live import LiveServer
from tests.sdk_runs import run_node_scenario

pytestmark = pytest.mark.slow


def test_the_typescript_sdk_uploads_and_reads_status(daphne_server: LiveServer, alice: Any) -> None:
    assert "node files scenario passed" in run_node_scenario("files_scenario.mjs", daphne_server, alice)
