"""A new member's first five minutes in the ADE, walked as they would in a real browser (daphne, the scripted fake
LLM, Chromium): sign in; create an agent from each preset; chat with the companion (it remembers, archives, recalls
and streams a reply) while memory changes live, the chat stays at the newest message and every reply shows once;
write and test a custom tool and see the assistant call it; switch the assistant's model; edit a block while the
agent writes to it and see the conflict. Screenshots land in test-artifacts/screenshots/."""

import re
from typing import Any

import pytest

from agents.models import Agent
from tests.e2e.test_ade_fixes import chat_at_bottom
from tests.fakes.llm_server import FakeLLM, Reply, ToolCall
from tests.live import LiveServer, screenshot, sign_in

pytestmark = pytest.mark.browser

STORY = "\n\n".join(
    [
        "Once upon a time a quokka named Pip lived on an island full of sunshine.",
        "Every morning Pip brewed green tea and counted the boats in the bay, one by one, until the tea went cold.",
        'One day a boat brought a letter: "Come and see the mainland," it said.',
        "Pip packed the teapot, waved to the island and sailed away. The end.",
    ]
)

SOURCE = '''def scale(value: int, factor: int = 2) -> int:
    """Multiply a value by a factor.

    Args:
        value: What to scale.
        factor: How many times over.
    """
    return value * factor
'''


def create_agent(page: Any, server: LiveServer, name: str, preset: str) -> Agent:
    page.goto(f"{server.url}/")
    page.click(".create summary")
    page.fill("#create-form input[name=name]", name)
    page.check(f"#create-form input[value={preset}]")
    page.click("#create-form button[type=submit]")
    page.wait_for_url(re.compile(r"/agents/[0-9a-f-]+/$"))
    page.wait_for_selector("#live[data-state=live]")
    page.wait_for_selector(f"#agent-name:text-is('{name}')")
    return Agent.objects.get(name=name)


def send(page: Any, text: str) -> None:
    page.fill("textarea[name=text]", text)
    page.press("textarea[name=text]", "Enter")
    page.wait_for_selector(f".msg.user .bubble:has-text('{text}')")


def turn_done(page: Any, reply: str) -> None:
    """The reply has landed in the history, exactly once, the run is over and the chat shows its end."""
    # In the history (#chat-tail), not the live bubble (#stream) it streamed into.
    page.wait_for_selector(f"#chat-tail .msg.assistant .bubble:has-text('{reply}')")
    page.wait_for_selector("#run-status .run-banner", state="detached")
    page.wait_for_function("() => document.querySelector('#stream').hidden")
    assert page.locator("#chat-log").inner_text().count(reply) == 1, f"{reply!r} must show once"
    page.wait_for_timeout(300)  # a late swap or resize
    assert chat_at_bottom(page), f"the chat must follow to {reply!r}"


def tool_item(page: Any, name: str) -> Any:
    """The newest compact item of a call of `name`, once its return has arrived."""
    item = page.locator(f"#chat-log details.tool-item[data-status=done]:has(.tool-name:text-is('{name}'))").last
    item.wait_for()
    return item


def memgpt_turn(fake_llm: FakeLLM, tool: str, arguments: dict[str, Any], reply: str) -> None:
    """The companion's next turn: one call of `tool` (asking for another step), then `reply` through send_message."""
    call = ToolCall(tool, {**arguments, "request_heartbeat": True})
    fake_llm.push(Reply(text=f"Use {tool}.", tool_calls=[call]))
    fake_llm.push(Reply(text="Answer.", tool_calls=[ToolCall("send_message", {"message": reply})]))


def test_a_new_members_first_five_minutes(daphne_server: LiveServer, fake_llm: FakeLLM, page: Any, alice: Any) -> None:
    page.set_default_timeout(30_000)
    page.set_viewport_size({"width": 1280, "height": 800})
    sign_in(page, daphne_server, "alice", "password-alice")

    # One agent from each preset: each opens on its workspace with its type and memory.
    blank = create_agent(page, daphne_server, "Slate", "blank")
    assert page.inner_text("#agent-type") == "v1" and blank.blocks.count() == 0
    page.wait_for_selector("#memory .empty:has-text('No memory blocks attached.')")
    ada = create_agent(page, daphne_server, "Ada", "assistant")
    assert page.inner_text("#agent-type") == "v1"
    comp = create_agent(page, daphne_server, "Comp", "companion")
    assert page.inner_text("#agent-type") == "memgpt"
    page.wait_for_selector(".block[data-label=persona] .block-value:has-text('warm, curious companion')")
    page.evaluate("window.__sameDocument = true")

    # Remember: the companion appends to its human block; the block changes live, the call is one item.
    remember = {"label": "human", "content": "Name: Sam. Loves green tea."}
    memgpt_turn(fake_llm, "core_memory_append", remember, "Nice to meet you, Sam!")
    send(page, "Hi, I am Sam and I love green tea.")
    # Generous: the server imports the LLM client on its first call, and CI machines may be busy.
    page.locator(".block[data-label=human] .block-value:has-text('Loves green tea')").wait_for(timeout=120_000)
    turn_done(page, "Nice to meet you, Sam!")
    remembered = tool_item(page, "core_memory_append")
    assert "Loves green tea" in remembered.locator(".tool-args").inner_text()
    assert page.locator("#chat-log details.tool-item:has(.tool-name:text-is('send_message'))").count() == 0
    assert page.locator("#chat-log .tool-return").count() == 0, "returns are folded into their calls"

    # Archive: a fact goes to archival memory.
    archive = {"content": "Sam's passport is in the blue folder."}
    memgpt_turn(fake_llm, "archival_memory_insert", archive, "Filed away for later.")
    send(page, "Please remember for later: my passport is in the blue folder.")
    turn_done(page, "Filed away for later.")
    archived = tool_item(page, "archival_memory_insert")
    archived.locator("summary").click()
    archived.locator(".tool-result").wait_for()

    # Recall: the companion searches the conversation; what it found is folded into the call's item.
    memgpt_turn(fake_llm, "conversation_search", {"query": "green tea"}, "You love green tea, Sam.")
    send(page, "What do I like to drink?")
    turn_done(page, "You love green tea, Sam.")
    found = tool_item(page, "conversation_search")
    found.locator("summary").click()
    assert "I love green tea" in found.locator(".tool-result").inner_text()
    screenshot(page, "5min-01-companion-tools")

    # A streamed reply: the monologue streams as reasoning, the reply as text decoded out of send_message's
    # arguments (never the raw JSON), then it lands in the history once, rendered as Markdown.
    fake_llm.push(
        Reply(text="Tell a short story.", tool_calls=[ToolCall("send_message", {"message": STORY})], chunk_delay=0.08)
    )
    send(page, "Tell me a story.")
    page.wait_for_selector("#stream:not([hidden]) .bubble:has-text('Once upon a time')")
    assert "Tell a short story." in page.inner_text("#stream .reasoning-stream")
    live = page.inner_text("#stream .bubble")
    assert '"message"' not in live and "\\n" not in live, live
    assert page.locator("#run-status .run-banner").count() == 1  # still running while it streams
    screenshot(page, "5min-02-streaming")
    turn_done(page, "The end.")
    assert page.locator("#chat-log").inner_text().count("Once upon a time") == 1
    assert page.locator("#chat-tail .msg.assistant .bubble.md p").filter(has_text="Once upon a time").count() == 1
    assert page.evaluate("window.__sameDocument") is True, "the chat must update without a reload"

    # The archived fact is in the Archival panel.
    page.goto(f"{daphne_server.url}/agents/{comp.id}/archival/")
    page.wait_for_selector(".passage:has-text('blue folder')")

    # A custom tool for the assistant: written, its schema derived, saved (attached), run with arguments.
    page.goto(f"{daphne_server.url}/agents/{ada.id}/tools/")
    page.click("#new-custom-tool")
    page.fill("#id_source_code", SOURCE)
    page.wait_for_selector("#tool-schema pre.json:has-text('How many times over.')")
    page.click("#tool-form button[type=submit]")
    page.wait_for_url(re.compile(rf"/agents/{ada.id}/tools/$"))
    page.wait_for_selector(".tool.card h3:text-is('scale')")
    tool = ada.tools.get(name="scale")
    page.click(f"a[href='/tools/{tool.id}/']")
    page.fill("#id_args", '{"value": 21}')
    page.click("#tool-run button[type=submit]")
    page.wait_for_selector("#run-result #run-status:text-is('success')")
    assert page.inner_text("#run-return") == "42"
    screenshot(page, "5min-03-custom-tool")

    # The assistant calls it in a chat: one item, its return folded in.
    page.goto(f"{daphne_server.url}/agents/{ada.id}/")
    page.wait_for_selector("#live[data-state=live]")
    fake_llm.tool_call("scale", {"value": 21})
    fake_llm.reply("21 scaled is 42.")
    send(page, "Scale 21 for me.")
    turn_done(page, "21 scaled is 42.")
    scaled = tool_item(page, "scale")
    assert "value: 21" in scaled.locator(".tool-args").inner_text()
    scaled.locator("summary").click()
    assert scaled.locator(".tool-result").inner_text().strip() == "42"

    # Switch the assistant's model: the next turn goes to the new one.
    page.goto(f"{daphne_server.url}/agents/{ada.id}/settings/")
    page.fill("form.settings input[name=model]", "openai/gpt-4.1")
    page.click("form.settings button[type=submit]")
    page.wait_for_selector("#panel .ok:text-is('Saved.')")
    page.wait_for_selector("#agent-model:text-is('openai/gpt-4.1')")
    fake_llm.reply("Now on a bigger model.")
    send(page, "Which model are you?")
    turn_done(page, "Now on a bigger model.")
    assert fake_llm.last_chat()["model"].endswith("gpt-4.1")

    # Edit a block while the agent writes to it: the editor is left alone, and saving shows the conflict.
    page.goto(f"{daphne_server.url}/agents/{comp.id}/")
    page.wait_for_selector("#live[data-state=live]")
    page.locator(".block[data-label=human] button:has-text('Edit')").click()
    editor = page.locator("form.block.editing[data-label=human] textarea")
    editor.fill("Name: Samantha")
    oolong = {"label": "human", "content": "Prefers oolong now."}
    memgpt_turn(fake_llm, "core_memory_append", oolong, "Oolong it is.")
    send(page, "Actually, I prefer oolong now.")
    turn_done(page, "Oolong it is.")
    assert editor.input_value() == "Name: Samantha", "the open editor must keep what was typed"
    page.locator("form.block.editing[data-label=human] button:has-text('Save')").click()
    page.wait_for_selector("form.block.editing .conflict pre.theirs:has-text('Prefers oolong now.')")
    screenshot(page, "5min-04-block-conflict")
    assert comp.blocks.get(label="human").value.endswith("Prefers oolong now.")
    page.locator("form.block.editing[data-label=human] button:has-text('Save')").click()
    page.wait_for_selector(".block[data-label=human] .block-value:text-is('Name: Samantha')")
    assert comp.blocks.get(label="human").value == "Name: Samantha"
