"""The ADE's layout in Chromium, as a member (bob) sees it: every workspace panel and every page of the top bar at
1440×900 and 390×844, in the light and the dark theme. Each view is saved to test-artifacts/screenshots/ as
`layout-<size>-<theme>-<view>.png` (ignored by git) for reviewers, and checked: nothing overflows sideways, the
chat's composer is in view, and on a wide screen core memory, the chat and the side panel stand side by side
without a click, while on a phone it is one column with Memory as a tab. The three columns keep their live updates:
a turn sent from the page updates the memory column and the context window panel at once."""

import re
import time
from typing import Any

import pytest

from agents.models import Agent, Conversation, Run, RunStatus
from agents.services.conversations import conversation_create
from agents.services.folders import agent_folder_attach
from files.services.folders import folder_create
from memory.models import Archive
from memory.services.archives import archive_attach, archive_create
from memory.services.passages import passage_insert
from tests import factories
from tests.live import LiveServer, screenshot, sign_in

# Each test visits many pages on a shared, possibly busy machine: more time than the suite's default per test.
pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]

SIZES = {"wide": {"width": 1440, "height": 900}, "phone": {"width": 390, "height": 844}}
BACKGROUND = {"light": "rgb(246, 247, 249)", "dark": "rgb(15, 19, 26)"}  # --bg of engram.css in each theme

# (view name, path under the agent's page, what shows once the panel is there)
WORKSPACE = [
    ("chat-memory", "", ".block[data-label=human] .block-value:has-text('green tea')"),
    ("context-window", "context/", "#step-request:has-text('green tea')"),
    ("archival", "archival/", "li.passage:has-text('Project Falcon')"),
    ("recall", "recall/?q=green+tea", ".hits .msg.user"),
    ("runs", "runs/", "tbody .status.completed"),
    ("tools", "tools/", ".tool h3:has-text('memory_insert')"),
    ("files", "files/", "article.folder[data-folder=handbook]"),
    ("settings", "settings/", "form.settings textarea[name=system]"),
]
# (view name, path, what shows once the page is there): the pages of the top bar a member reaches.
PAGES = [
    ("agent-list", "/", "text=Ada"),
    ("dashboard", "/dashboard/", "svg.chart"),
    ("usage", "/usage/", "#usage-table"),
    ("mcp", "/mcp/", "main h1"),
    ("tool-library", "/tools/", "main h1"),
    ("tool-editor", "/tools/new/", "#tool-form"),
    ("members", "/members/", "main h1"),
    ("api-keys", "/keys/", "#key-list"),
    ("password", "/account/password/", "main form"),
]

GEOMETRY = """() => {
  const box = (selector) => {
    const el = document.querySelector(selector);
    if (!el) return null;
    const r = el.getBoundingClientRect();
    return {left: r.left, right: r.right, top: r.top, bottom: r.bottom, width: r.width,
            shown: getComputedStyle(el).display !== "none" && r.width > 0 && r.height > 0};
  };
  return {
    memory: box("#memory"), chat: box(".chat"), panel: box("#panel"), body: box("#panel > .panel-body"),
    composer: box("#chat-form textarea"),
    scrollWidth: document.scrollingElement.scrollWidth, innerWidth: innerWidth, innerHeight: innerHeight,
  };
}"""


def seed(bob: Any, fake_llm: Any) -> tuple[Agent, Archive, Conversation]:
    """Bob's agent with something in every panel: a turn that edited memory (a step, a run, recall), a passage, a
    shared archive with a passage, a folder (the page uploads a file into it: the server processes it), and a second
    conversation."""
    agent = factories.make_agent(bob, name="Ada")
    fake_llm.tool_call("memory_insert", {"label": "human", "new_string": "Likes: green tea"})
    fake_llm.reply("Noted: **green tea** it is.")
    factories.send(bob, agent, "I like green tea")
    passage_insert(agent=agent, text="Project Falcon launches in March.", tags=["plans"])
    archive = archive_create(actor=bob, name="team-garden", description="What the whole team knows")
    archive_attach(archive=archive, agent=agent)
    passage_insert(archive=archive, text="The garden gate code is 4711.")
    folder = folder_create(organization_id=agent.organization_id, name="handbook", instructions="Read me first")
    agent_folder_attach(agent=agent, folder=folder)
    conversation = conversation_create(actor=bob, agent=agent, summary="Trip to Lisbon")
    return agent, archive, conversation


def geometry(page: Any) -> dict[str, Any]:
    return dict(page.evaluate(GEOMETRY))


def assert_fits(page: Any, view: str) -> dict[str, Any]:
    g = geometry(page)
    assert g["scrollWidth"] <= g["innerWidth"], f"{view}: the page is {g['scrollWidth']}px wide in {g['innerWidth']}px"
    return g


def assert_workspace(page: Any, size: str, view: str, *, memory_tab: bool) -> None:
    g = assert_fits(page, view)
    composer = g["composer"]
    assert composer["shown"] and composer["top"] >= 0 and composer["bottom"] <= g["innerHeight"], (view, composer)
    memory, chat, panel, body = g["memory"], g["chat"], g["panel"], g["body"]
    if size == "wide":
        # Three columns, no tab to click: memory | chat | side panel, side by side, within the screen's height.
        assert memory["shown"] and chat["shown"] and body["shown"], (view, g)
        assert memory["right"] <= chat["left"] + 1 and chat["right"] <= panel["left"] + 1, (view, g)
        assert abs(memory["top"] - chat["top"]) < 2 and abs(chat["top"] - panel["top"]) < 2, (view, g)
        assert min(memory["width"], chat["width"], panel["width"]) >= 260, (view, g)
        assert max(memory["bottom"], chat["bottom"], panel["bottom"]) <= g["innerHeight"] + 1, (view, g)
        assert not page.locator(".tabs a.tab-memory").is_visible()  # its column is on screen already
    else:
        # One column: the chat, then the side panel's tabs with the open one under them.
        assert chat["width"] <= g["innerWidth"] and panel["top"] >= chat["bottom"] - 1, (view, g)
        assert page.locator(".tabs a.tab-memory").is_visible()
        if memory_tab:
            assert memory["shown"] and not body["shown"] and memory["top"] >= panel["bottom"] - 1, (view, g)
        else:
            assert body["shown"] and not memory["shown"], (view, g)


@pytest.mark.parametrize("theme", ["light", "dark"])
@pytest.mark.parametrize("size", ["wide", "phone"])
def test_every_panel_and_page_at_both_sizes_and_themes(
    daphne_server: LiveServer, fake_llm: Any, browser: Any, bob: Any, size: str, theme: str
) -> None:
    agent, archive, conversation = seed(bob, fake_llm)
    context = browser.new_context(viewport=SIZES[size], color_scheme=theme)
    try:
        page = context.new_page()
        page.set_default_timeout(30_000)
        sign_in(page, daphne_server, "bob", "password-bob")
        assert page.evaluate("getComputedStyle(document.body).backgroundColor") == BACKGROUND[theme]
        base = f"{daphne_server.url}/agents/{agent.id}/"
        prefix = f"layout-{size}-{theme}"
        for view, path, ready in WORKSPACE:
            page.goto(base + path)
            page.wait_for_selector("#live[data-state=live]")
            page.wait_for_selector(ready)
            # The agent's page fetches its side panel; the server's first token count imports the LLM client.
            page.wait_for_selector("#panel:not([aria-busy])", timeout=120_000)
            if view == "files":
                notes = {"name": "notes.md", "mimeType": "text/markdown", "buffer": b"# Notes\n\nMaren.\n"}
                page.set_input_files("article.folder[data-folder=handbook] .dropzone input[type=file]", notes)
                page.wait_for_selector("tr[data-file='notes.md'] .status")
            assert_workspace(page, size, view, memory_tab=path == "")
            screenshot(page, f"{prefix}-{view}")

        # Archival with the shared archives: the list of attached ones, then browsing one of them.
        page.goto(f"{base}archival/?archive={archive.id}")
        page.wait_for_selector("text=Browsing the shared archive")
        page.wait_for_selector("li.passage:has-text('garden gate code')")
        assert page.locator("#shared-archives").get_attribute("open") is not None
        assert_workspace(page, size, "archival-shared", memory_tab=False)
        screenshot(page, f"{prefix}-archival-shared")

        # Tabs switch the side panel in place (no reload); on a phone Memory is one of them.
        page.goto(base + "context/")
        page.wait_for_selector("#live[data-state=live]")
        page.evaluate("window.__sameDocument = true")
        if size == "phone":
            page.locator(".tabs a.tab-memory").click()
            page.wait_for_selector('.tabs a[aria-current=page]:text-is("Memory")')
            page.locator("#memory .block[data-label=human]").wait_for()
            assert_workspace(page, size, "memory-tab", memory_tab=True)
            assert page.url == base + "memory/"
        page.locator(".tabs a", has_text=re.compile("^Recall$")).click()
        page.wait_for_selector('.tabs a[aria-current=page]:text-is("Recall")')
        assert_workspace(page, size, "recall-tab", memory_tab=False)
        assert page.evaluate("window.__sameDocument") is True

        # Conversations: the switcher above the chat, with another conversation open.
        page.goto(base)
        page.wait_for_selector("#live[data-state=live]")
        page.select_option("#conversation-select", str(conversation.id))
        page.wait_for_selector("#conversation-select option:checked:has-text('Trip to Lisbon')", state="attached")
        page.wait_for_selector("#chat-empty")
        assert_workspace(page, size, "conversations", memory_tab=True)
        screenshot(page, f"{prefix}-conversations")

        for view, path, ready in PAGES:
            page.goto(daphne_server.url + path)
            page.wait_for_selector(ready)
            assert_fits(page, view)
            screenshot(page, f"{prefix}-{view}")
    finally:
        context.close()


def test_the_three_columns_update_live(daphne_server: LiveServer, fake_llm: Any, browser: Any, bob: Any) -> None:
    """A turn sent from the wide workspace: the memory column shows the agent's edit and the context window panel
    beside it shows the new step, without a reload and without a click."""
    agent = factories.make_agent(bob, name="Ada")
    context = browser.new_context(viewport=SIZES["wide"])
    try:
        page = context.new_page()
        page.set_default_timeout(30_000)
        sign_in(page, daphne_server, "bob", "password-bob")
        page.goto(f"{daphne_server.url}/agents/{agent.id}/")
        page.wait_for_selector("#live[data-state=live]")
        page.wait_for_selector("#panel .empty:has-text('No step yet')", timeout=120_000)
        page.evaluate("window.__sameDocument = true")

        fake_llm.tool_call("memory_insert", {"label": "human", "new_string": "Likes: oolong"})
        fake_llm.reply("Oolong it is.")
        page.fill("textarea[name=text]", "I like oolong")
        page.press("textarea[name=text]", "Enter")
        page.wait_for_selector(".msg.assistant .bubble:has-text('Oolong it is.')")
        page.locator("#memory .block[data-label=human] .block-value:has-text('Likes: oolong')").wait_for()
        page.wait_for_selector("#panel #step-request:has-text('I like oolong')")
        assert page.evaluate("window.__sameDocument") is True
        assert page.locator(".tabs a.current-wide").inner_text() == "Context"
        assert_workspace(page, "wide", "live", memory_tab=True)
        screenshot(page, "layout-wide-light-live-update")

        # Another tab on the right leaves the memory column where it is, still live.
        page.locator(".tabs a", has_text=re.compile("^Archival$")).click()
        page.wait_for_selector('.tabs a[aria-current=page]:text-is("Archival")')
        assert page.locator("#memory .block[data-label=human]").is_visible()
        fake_llm.tool_call("memory_replace", {"label": "human", "old_string": "oolong", "new_string": "sencha"})
        fake_llm.reply("Sencha, then.")
        page.fill("textarea[name=text]", "Actually, sencha")
        page.press("textarea[name=text]", "Enter")
        page.locator("#memory .block[data-label=human] .block-value:has-text('Likes: sencha')").wait_for()
        assert page.evaluate("window.__sameDocument") is True
        # The run ends before the test does: the server's last writes must not meet the test database's flush.
        page.wait_for_selector(".msg.assistant .bubble:has-text('Sencha, then.')")
        deadline = time.monotonic() + 60
        while Run.objects.filter(agent=agent, status__in=[RunStatus.QUEUED, RunStatus.RUNNING]).exists():
            assert time.monotonic() < deadline, "the run did not end"
            time.sleep(0.1)
    finally:
        context.close()
