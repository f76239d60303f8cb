"""ENGRAM_ORG_MAX_TOOL_PROCESSES: an organization running its share of tool processes through the tool-run routes
gets a 429 for one more, at once (no request thread held waiting); another organization is not affected."""

import threading

import pytest
from django.db import connection

from agents.tools import limits
from tests.agents.runtime.test_execution import wait_until

pytestmark = [pytest.mark.django_db(transaction=True)]

SLOW = 'def slow() -> str:\n    """Slow."""\n    import time\n\n    time.sleep(3)\n    return "slow done"\n'
QUICK = 'def quick() -> str:\n    """Quick."""\n    return "quick done"\n'


def test_a_tool_run_over_the_organizations_cap_is_a_429_and_others_still_run(alice_api, charlie_api, org_a, settings):
    settings.ENGRAM_ORG_MAX_TOOL_PROCESSES = 1
    results = []

    def run_slow():
        try:
            results.append(alice_api.post("/v1/tools/run", {"source_code": SLOW}, format="json").json())
        finally:
            connection.close()

    thread = threading.Thread(target=run_slow)
    thread.start()
    try:
        # Once the slow tool holds alice's organization's one slot in this server process:
        assert wait_until(lambda: limits._running.get(org_a.id) == 1, timeout=10), "the slow tool never started"
        busy = alice_api.post("/v1/tools/run", {"source_code": QUICK}, format="json")
        assert busy.status_code == 429, busy.json()
        assert "ENGRAM_ORG_MAX_TOOL_PROCESSES" in busy.json()["detail"]
        assert busy["Retry-After"] == "1"
        other = charlie_api.post("/v1/tools/run", {"source_code": QUICK}, format="json")
        assert (other.status_code, other.json()["tool_return"]) == (200, "quick done")
    finally:
        thread.join(30)
    assert results[0]["tool_return"] == "slow done"
    again = alice_api.post("/v1/tools/run", {"source_code": QUICK}, format="json")  # the slot is free again
    assert (again.status_code, again.json()["tool_return"]) == (200, "quick done")
