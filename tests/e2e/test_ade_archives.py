"""Shared archives in the ADE, as a person uses them in Chromium: create one from the Archival panel, insert into
it, browse it, and find its passage from the agent's search. Screenshots land in test-artifacts/screenshots/."""

from typing import Any

import pytest

from agents.services.agents import agent_create
from memory.models import Archive, Passage
from memory.services.passages import passage_insert
from tests.live import LiveServer, screenshot, sign_in

pytestmark = pytest.mark.browser


def test_a_person_shares_an_archive_from_the_archival_panel(daphne_server: LiveServer, page: Any, alice: Any) -> None:
    page.set_default_timeout(30_000)
    page.on("dialog", lambda dialog: dialog.accept())
    agent = agent_create(actor=alice, name="Ada", model="openai/gpt-4o-mini", memory_blocks=[])
    passage_insert(agent=agent, text="Ada's own note about the garden.")
    sign_in(page, daphne_server, "alice", "password-alice")
    page.goto(f"{daphne_server.url}/agents/{agent.id}/archival/")
    page.wait_for_selector("#live[data-state=live]")
    # The panel re-reads itself after the agent's events (the passage's embedding may land now), which renders the
    # section closed again: open it right before each use.
    opened = "document.querySelector('#shared-archives').open = true"
    page.evaluate(opened)
    page.fill("#shared-archives input[name=name]", "team-garden")
    page.evaluate(opened)
    page.click("#shared-archives button:text-is('Create and attach')")
    page.wait_for_selector("text=Archive team-garden created and attached.")
    archive = Archive.objects.get(name="team-garden")

    page.click(f"#shared-archive-{archive.id} a")
    page.wait_for_selector("text=Browsing the shared archive")
    page.click(".insert summary")
    page.fill(".insert textarea[name=text]", "The garden gate code is 4711.")
    page.click(".insert button[type=submit]")
    page.wait_for_selector("li.passage >> text=The garden gate code is 4711.")
    assert Passage.objects.get(text="The garden gate code is 4711.").archive_id == archive.pk
    screenshot(page, "archives-01-browsing")

    page.click("text=back to Ada's memory")
    page.wait_for_selector("li.passage >> text=Ada's own note about the garden.")
    page.fill("input[name=q]", "garden gate code")
    page.click(".search-form button[type=submit]")
    page.wait_for_selector("li.passage .archive-tag:text-is('team-garden')")
    texts = page.locator("li.passage p").all_inner_texts()
    assert texts[0] == "The garden gate code is 4711.", texts
    screenshot(page, "archives-02-agent-search")
