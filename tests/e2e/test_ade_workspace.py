"""The ADE end to end: a real daphne, the scripted fake LLM, Chromium. Screenshots of every panel land in
test-artifacts/screenshots/ (ignored by git) for reviewers."""

import json
import re
import urllib.request
from typing import Any

import pytest

from accounts.services import apikey_create, organization_create, user_create
from agents.models import Agent
from lib.ids import public_id
from memory.services.blocks import block_update
from tests.fakes.llm_server import Reply
from tests.live import LiveServer, screenshot, sign_in

pytestmark = pytest.mark.browser


def open_panel(page: Any, name: str) -> None:
    page.locator(".tabs a", has_text=re.compile(f"^{name}$")).click()
    page.wait_for_selector(f'.tabs a[aria-current=page]:text-is("{name}")')


def wait_live(page: Any) -> None:
    page.wait_for_selector("#live[data-state=live]")


def socket_opens(page: Any, server: LiveServer, agent_id: Any) -> bool:
    """Try the agent's websocket from the page (so the browser sends its cookie and origin)."""
    return bool(
        page.evaluate(
            """(url) => new Promise((resolve) => {
                const ws = new WebSocket(url);
                ws.onopen = () => { ws.close(); resolve(true); };
                ws.onclose = () => resolve(false);
            })""",
            f"{server.ws_url}/ws/agents/{agent_id}/",
        )
    )


def test_the_ade_round_trip(daphne_server: LiveServer, fake_llm: Any, page: Any, browser: Any, alice: Any) -> None:
    # Generous waits: the server imports the LLM client on its first call, and CI machines may be busy.
    page.set_default_timeout(30_000)
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(f"{daphne_server.url}/accounts/login/")
    screenshot(page, "00-sign-in")
    sign_in(page, daphne_server, "alice", "password-alice")
    screenshot(page, "01-agent-list-empty")

    # Create an agent from a preset.
    page.click(".create summary")
    page.fill("#create-form input[name=name]", "Ada")
    page.check("#create-form input[value=assistant]")
    screenshot(page, "02-agent-create")
    page.click("#create-form button[type=submit]")
    page.wait_for_url(re.compile(r"/agents/[0-9a-f-]+/$"))
    agent = Agent.objects.get(name="Ada")
    wait_live(page)
    page.evaluate("window.__sameDocument = true")

    # Chat: the fake LLM edits memory, then answers. Enter sends.
    fake_llm.tool_call("memory_insert", {"label": "human", "new_string": "Likes: green tea"})
    fake_llm.reply("Noted: green tea it is.")
    page.fill("textarea[name=text]", "I like green tea")
    page.press("textarea[name=text]", "Enter")
    page.wait_for_selector(".msg.user .bubble:has-text('I like green tea')")
    page.wait_for_selector(".msg.assistant .bubble:has-text('Noted: green tea it is.')")
    page.wait_for_selector(".tool-call summary:has-text('memory_insert')")
    human = page.locator(".block[data-label=human]")
    human.locator(".block-value:has-text('Likes: green tea')").wait_for()
    assert page.evaluate("window.__sameDocument") is True, "the memory panel must update without a reload"
    assert page.locator("textarea[name=text]").input_value() == ""
    screenshot(page, "03-chat-and-memory-live-update")

    # Tokens stream into a live bubble while the run shows its state; then the reply lands in the history.
    # ~3 s of tokens: long enough for the page to see the live bubble between the run banner and the reply.
    fake_llm.push(Reply(text="Streaming " + "word " * 30, reasoning="Thinking it over.", chunk_delay=0.1))
    page.fill("textarea[name=text]", "Tell me more")
    page.press("textarea[name=text]", "Enter")
    page.wait_for_selector("#run-status .run-banner")
    page.wait_for_selector("#stream:not([hidden]) .bubble:has-text('Streaming word')")
    screenshot(page, "03b-chat-streaming")
    page.wait_for_selector(".msg.assistant .bubble:has-text('Streaming word word')")
    page.wait_for_selector("#stream[hidden]", state="attached")
    page.wait_for_selector("#run-status .run-banner", state="detached")

    # A slow run can be cancelled from the banner. Shift+Enter makes a new line instead of sending.
    fake_llm.default = Reply(text="too late", delay=20)  # whatever the model is asked next is slow
    page.fill("textarea[name=text]", "First line")
    page.press("textarea[name=text]", "Shift+Enter")
    page.type("textarea[name=text]", "second line")
    assert page.locator("textarea[name=text]").input_value() == "First line\nsecond line"
    page.press("textarea[name=text]", "Enter")
    page.locator("#run-status button:has-text('Cancel')").click()
    page.wait_for_selector("#run-status .run-banner", state="detached")
    assert agent.runs.order_by("-created_at").first().status == "cancelled"

    # Revision history with a diff, then revert.
    human.locator("button:has-text('History')").click()
    human.locator(".diff ins:has-text('green tea')").wait_for()
    screenshot(page, "04-memory-history-diff")
    human.locator(".revisions button:has-text('Revert')").first.click()
    page.locator(".block[data-label=human] .block-value:has-text('(empty)')").wait_for()
    assert agent.blocks.get(label="human").value == ""

    # Edit in place with the live counter.
    page.locator(".block[data-label=persona] button:has-text('Edit')").click()
    editor = page.locator("form.block.editing textarea")
    editor.fill("I am a concise, helpful assistant who loves tea.")
    assert page.locator("form.block.editing .counter").inner_text().startswith("48 /")
    page.locator("form.block.editing button:has-text('Save')").click()
    page.locator(".block[data-label=persona] .block-value:has-text('loves tea')").wait_for()
    screenshot(page, "05-memory-panel")

    # The channel layer is not storage: after a reconnect the page re-reads its panels over HTTP. This write
    # happens in the test process, so no event reaches the page; only the re-fetch can show it.
    block_update(block=agent.blocks.get(label="persona"), actor=alice, source="api", value="Changed while away.")
    page.evaluate("document.querySelector('.workspace').dispatchEvent(new CustomEvent('htmx:wsOpen', {bubbles: true}))")
    page.locator(".block[data-label=persona] .block-value:has-text('Changed while away.')").wait_for()

    # Archival: insert, then search by words and tag.
    open_panel(page, "Archival")
    page.click(".insert summary")
    page.fill(".insert textarea[name=text]", "Project Falcon launches in March.")
    page.fill(".insert input[name=tags]", "plans")
    page.click(".insert button[type=submit]")
    page.wait_for_selector("#panel .ok:has-text('Passage inserted')")
    page.fill(".search-form input[name=q]", "Falcon")
    page.fill(".search-form input[name=tags]", "plans")
    page.click(".search-form button[type=submit]")
    page.wait_for_selector(".passage:has-text('Project Falcon launches in March.') .muted:has-text('score')")
    screenshot(page, "06-archival-panel")

    # Recall: search past messages with a role filter.
    open_panel(page, "Recall")
    page.fill(".search-form input[name=q]", "green tea")
    page.check(".search-form input[value=user]")
    page.click(".search-form button[type=submit]")
    page.wait_for_selector(".hits .msg.user:has-text('I like green tea')")
    assert page.locator(".hits .msg.assistant").count() == 0
    screenshot(page, "07-recall-panel")

    # Context window: the breakdown and the exact request of the last step.
    open_panel(page, "Context")
    page.wait_for_selector(".ctx-bar span")
    request_text = page.locator("#step-request").inner_text()
    assert "I like green tea" in request_text and '"tools"' in request_text
    screenshot(page, "08-context-panel")

    # Runs and steps: the step view shows the exact request, tool calls and tokens.
    open_panel(page, "Runs")
    page.locator("tbody .status:has-text('completed')").first.wait_for()
    page.locator("button:has-text('Steps')").last.click()  # the oldest run: the memory edit
    page.wait_for_selector(".step .tool-call summary:has-text('memory_insert')")
    page.locator(".step details.json-block summary:has-text('Request')").first.click()
    page.wait_for_selector(".step pre.json:has-text('I like green tea')")
    screenshot(page, "09-runs-and-steps")

    open_panel(page, "Tools")
    page.wait_for_selector(".tool h3:has-text('memory_insert')")
    screenshot(page, "10-tools-panel")
    open_panel(page, "Settings")
    page.wait_for_selector("form.settings textarea[name=system]")
    screenshot(page, "11-settings-panel")

    # Narrow screens: one column, nothing cut off sideways.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{daphne_server.url}/agents/{agent.id}/")
    wait_live(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "12-workspace-phone")
    page.set_viewport_size({"width": 1280, "height": 900})

    page.goto(f"{daphne_server.url}/dashboard/")
    page.wait_for_selector("svg.chart rect")
    screenshot(page, "13-dashboard")
    # Active runs are pushed: a run that starts and ends (in the server, through the API) shows up and goes away
    # without a reload; the fallback poll is every 30 s, the waits here are shorter.
    wait_live(page)
    fake_llm.push(Reply(text="Done thinking.", delay=3))
    key = apikey_create(user=alice, name="e2e").raw_key
    send = urllib.request.Request(
        f"{daphne_server.url}/v1/agents/{public_id('agent', agent.id)}/messages/async",
        data=json.dumps({"messages": [{"role": "user", "content": "Take your time."}]}).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(send, timeout=10) as response:
        assert response.status == 200
    page.wait_for_selector("#active-runs td:has-text('running')", timeout=4000)
    assert page.locator("#active-count").inner_text() == "1"
    page.wait_for_selector("#active-runs .empty", timeout=10000)
    assert page.locator("#active-count").inner_text() == "0"
    # Usage: the run just made is plotted and totalled; the CSV export downloads.
    page.click("nav >> text=Usage")
    page.wait_for_selector("#usage-table")
    page.select_option("select[name=by]", "agent")
    page.click("form[aria-label='Usage period'] button[type=submit]")
    page.wait_for_selector(f"#usage-table td:has-text('{agent.name}')")
    assert page.locator("svg.chart rect").count() > 0
    assert int(page.locator("#usage-tokens").inner_text()) > 0
    with page.expect_download() as download:
        page.click("#usage-csv")
    assert download.value.suggested_filename.startswith("engram-usage-")
    screenshot(page, "13b-usage")
    page.goto(f"{daphne_server.url}/")
    screenshot(page, "14-agent-list")
    # An agent file over the body limit is refused on the page, before the server would cut it off.
    page.click("#import-form >> xpath=.. >> summary")
    limit = int(page.get_attribute("#import-form input[type=file]", "data-max-bytes"))
    big = {"name": "huge.af", "mimeType": "application/json", "buffer": b" " * (limit + 1)}
    page.set_input_files("#import-form input[type=file]", big)
    page.click("#import-form button[type=submit]")
    message = page.eval_on_selector("#import-form input[type=file]", "el => el.validationMessage")
    assert f"the limit is {limit} bytes" in message and page.url == f"{daphne_server.url}/"
    page.goto(f"{daphne_server.url}/members/")
    screenshot(page, "15-members")
    page.goto(f"{daphne_server.url}/keys/")
    page.fill("#key-list input[name=name]", "laptop")
    page.click("#key-list button[type=submit]")
    page.wait_for_selector("#new-key")
    screenshot(page, "16-api-keys")
    page.set_viewport_size({"width": 390, "height": 844})
    for path, name in [
        ("/", "17-agent-list-phone"),
        ("/dashboard/", "18-dashboard-phone"),
        ("/usage/", "19-usage-phone"),
    ]:
        page.goto(f"{daphne_server.url}{path}")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, path
        screenshot(page, name)

    # An outsider: 404 on the page, a refused socket. So is an anonymous visitor's socket.
    organization = organization_create(name="Org C")
    user_create(username="carol", password="password-carol", organization=organization)
    outsider = browser.new_context()
    try:
        other = outsider.new_page()
        other.goto(f"{daphne_server.url}/accounts/login/")
        assert not socket_opens(other, daphne_server, agent.id)  # anonymous
        sign_in(other, daphne_server, "carol", "password-carol")
        response = other.goto(f"{daphne_server.url}/agents/{agent.id}/")
        assert response is not None and response.status == 404
        assert not socket_opens(other, daphne_server, agent.id)
        assert socket_opens(page, daphne_server, agent.id)
    finally:
        outsider.close()
