"""The ADE's conversation switcher in a browser: new, switch, rename, delete; each conversation with its own chat."""

from typing import Any

import pytest

from agents.models import Conversation
from tests import factories
from tests.live import LiveServer, screenshot, sign_in

pytestmark = pytest.mark.browser


def test_the_conversation_switcher(daphne_server: LiveServer, fake_llm: Any, page: Any, alice: Any) -> None:
    page.set_default_timeout(30_000)
    page.on("dialog", lambda dialog: dialog.accept())
    agent = factories.make_agent(alice, name="Switcher")
    page.goto(f"{daphne_server.url}/accounts/login/")
    sign_in(page, daphne_server, "alice", "password-alice")
    page.goto(f"{daphne_server.url}/agents/{agent.id}/")
    page.wait_for_selector("#live[data-state=live]")

    fake_llm.reply("Hello in the default history.")
    page.fill("textarea[name=text]", "hi default")
    page.press("textarea[name=text]", "Enter")
    page.wait_for_selector(".msg.assistant .bubble:has-text('Hello in the default history.')")

    # A new conversation opens empty, and its chat gets its own messages.
    page.fill("#conversation-bar input[name=summary][placeholder='New conversation']", "Trip")
    page.click("#conversation-bar button:has-text('New')")
    page.wait_for_selector("#conversation-select option:checked:has-text('Trip')", state="attached")
    page.wait_for_selector("#chat-empty")
    fake_llm.reply("Lisbon is lovely.")
    page.fill("textarea[name=text]", "plan a trip")
    page.press("textarea[name=text]", "Enter")
    page.wait_for_selector(".msg.assistant .bubble:has-text('Lisbon is lovely.')")
    assert page.locator(".msg .bubble:has-text('hi default')").count() == 0
    screenshot(page, "10-conversation-chat")

    # Switching back shows the agent's own history only.
    page.select_option("#conversation-select", "")
    page.wait_for_selector(".msg .bubble:has-text('hi default')")
    assert page.locator(".msg .bubble:has-text('plan a trip')").count() == 0

    # Rename, then delete.
    trip = Conversation.objects.get(agent=agent)
    page.select_option("#conversation-select", str(trip.id))
    page.wait_for_selector(".msg .bubble:has-text('plan a trip')")
    page.fill("#conversation-bar input[aria-label='Conversation name']", "Lisbon trip")
    page.click("#conversation-bar button:has-text('Rename')")
    page.wait_for_selector("#conversation-select option:checked:has-text('Lisbon trip')", state="attached")
    page.click("#conversation-bar button:has-text('Delete')")
    page.wait_for_selector("#conversation-select option:checked:has-text('Default')", state="attached")
    page.wait_for_selector(".msg .bubble:has-text('hi default')")
    assert not Conversation.objects.filter(pk=trip.pk).exists()
