"""Approvals in the ADE, end to end (real daphne, the scripted fake LLM, Chromium): a tool is switched to require
approval in the Tools panel; its call waits in the chat with Approve / Deny; approving runs it and the run finishes
live, without a reload."""

from typing import Any

import pytest

from agents.models import Run
from agents.runtime.tool_rules import approval_tools
from tests import factories
from tests.live import LiveServer, screenshot, sign_in

pytestmark = pytest.mark.browser


def test_approve_a_pending_tool_call_and_see_the_run_finish(
    daphne_server: LiveServer, fake_llm: Any, page: Any, alice: Any
) -> None:
    page.set_default_timeout(30_000)
    agent = factories.make_agent(alice, name="Guarded")
    sign_in(page, daphne_server, "alice", "password-alice")
    page.goto(f"{daphne_server.url}/agents/{agent.id}/tools/")
    page.wait_for_selector("#live[data-state=live]")
    page.evaluate("window.__sameDocument = true")

    # The Tools panel's toggle adds the requires_approval rule.
    with page.expect_response(lambda r: "/approval/" in r.url and r.request.method == "POST") as toggled:
        page.get_by_label("memory_insert requires approval").check()
    assert toggled.value.status == 200
    page.wait_for_selector("input[aria-label='memory_insert requires approval']:checked")
    agent.refresh_from_db()
    assert approval_tools(agent.tool_rules) == {"memory_insert"}

    # The call waits in the chat, live, with Approve / Deny.
    fake_llm.tool_call("memory_insert", {"label": "human", "new_string": "Likes: tea"}, id="call_ade")
    page.fill("textarea[name=text]", "I like tea")
    page.press("textarea[name=text]", "Enter")
    card = page.locator(".approval.card[data-call=call_ade]")
    card.wait_for()
    assert "memory_insert" in card.inner_text() and "Likes: tea" in card.inner_text()
    assert Run.objects.get(agent=agent).stop_reason == "requires_approval"
    screenshot(page, "20-approval-pending")

    # Approve: the tool runs, the model answers, all of it arrives without a reload.
    fake_llm.reply("Saved: you like tea.")
    card.locator("button:has-text('Approve')").click()
    page.wait_for_selector(".msg.assistant .bubble:has-text('Saved: you like tea.')")
    page.wait_for_selector(".approval-note:has-text('Approved')")
    # The held call and its return are one item, now done.
    page.wait_for_selector(".tool-item[data-call=call_ade][data-status=done] summary:has-text('memory_insert')")
    page.wait_for_selector(".approval.card", state="detached")
    page.wait_for_selector("#run-status .run-banner", state="detached")
    assert page.evaluate("window.__sameDocument") is True, "the chat must update without a reload"
    assert agent.blocks.get(label="human").value == "Likes: tea"
    assert [r.stop_reason for r in Run.objects.filter(agent=agent).order_by("position")] == [
        "requires_approval",
        "end_turn",
    ]
    screenshot(page, "21-approval-approved")
