"""The session's live server (tests/live.py) outlives the tests that use it and shares their database: it must
run only what its own requests send it, never the queued runs of the tests around it."""

import time
from typing import Any

import httpx
import pytest

from accounts.services import apikey_create
from agents.models import Run, RunStatus
from agents.services.agents import agent_create
from agents.services.runs import run_create
from tests.live import LiveServer

pytestmark = pytest.mark.slow


def test_the_live_server_leaves_the_queued_runs_of_other_tests_alone(
    daphne_server: LiveServer, alice: Any, charlie: Any, settings: Any
) -> None:
    key = apikey_create(user=alice, name="live").raw_key
    http = httpx.Client(base_url=daphne_server.url, headers={"Authorization": f"Bearer {key}"}, timeout=60)
    agent = http.post("/v1/agents/", json={"model": "openai/gpt-4o-mini", "include_base_tools": False}).json()
    # A message through the server: its in-process pool is up (and has swept once, at its start).
    assert http.post(f"/v1/agents/{agent['id']}/messages", json={"input": "hi"}).status_code == 200
    settings.ENGRAM_RUN_EXECUTOR = "manual"  # as in a test that runs its queued runs itself, or a Celery test's
    other = agent_create(actor=charlie, model="openai/gpt-4o-mini")
    run = run_create(actor=charlie, agent=other, messages=[{"role": "user", "content": "not yours"}])
    # The server's periodic sweep used to dispatch this run to its own pool (with its own org cap) and run it.
    time.sleep(3)
    run.refresh_from_db()
    assert (run.status, run.dispatched_at, run.claim_token) == (RunStatus.QUEUED, None, "")
    assert Run.objects.filter(organization_id=other.organization_id).count() == 1
