"""The tool editor and the model picker in a real browser (daphne, Chromium): a custom tool written, its schema
derived as it is typed, created, and run with arguments (its output, then a raised error); an agent's model
switched with the picker, its context window following. Screenshots land in test-artifacts/screenshots/."""

import re
from typing import Any

import pytest

from agents.models import Agent, Tool
from agents.services.agents import agent_create
from tests.live import LiveServer, screenshot, settled, sign_in

pytestmark = pytest.mark.browser

SOURCE = '''def scale(value: int, factor: int = 2) -> int:
    """Multiply a value by a factor.

    Args:
        value: What to scale; must not be negative.
        factor: How many times over.
    """
    if value < 0:
        raise ValueError(f"cannot scale {value}: it is negative")
    print(f"scaling {value} by {factor}")
    return value * factor
'''


def test_a_custom_tool_is_written_created_and_run_in_the_browser(
    daphne_server: LiveServer, page: Any, alice: Any
) -> None:
    page.set_default_timeout(30_000)
    agent = agent_create(actor=alice, name="Toolsmith", model="openai/gpt-4o-mini")
    sign_in(page, daphne_server, "alice", "password-alice")
    page.goto(f"{daphne_server.url}/agents/{agent.id}/tools/")
    page.click("#new-custom-tool")
    page.wait_for_selector("#tool-schema pre.json:has-text('roll_dice')")  # the starter function's schema

    # A syntax error: the schema pane says why, nothing can be derived.
    page.fill("#id_source_code", "def scale(value: int) -> int\n    return value\n")
    page.wait_for_selector("#tool-schema .error:has-text('is not valid Python')")
    page.click("#tool-form button[type=submit]")
    page.wait_for_selector("#tool-form textarea[aria-invalid=true]")
    settled(page)
    assert "Not saved: is not valid Python" in page.inner_text("#tool-editor")
    assert not Tool.objects.filter(name="scale").exists()

    page.fill("#id_source_code", SOURCE)
    page.wait_for_selector("#tool-schema pre.json:has-text('What to scale; must not be negative.')")
    page.click("#tool-form button[type=submit]")
    page.wait_for_url(re.compile(rf"/agents/{agent.id}/tools/$"))  # back in the agent's panel, attached
    page.wait_for_selector(".tool.card h3:text-is('scale')")
    tool = agent.tools.get(name="scale")
    assert tool.json_schema["parameters"]["required"] == ["value"]

    page.click(f"a[href='/tools/{tool.id}/']")
    page.wait_for_selector("#tool-schema pre.json:has-text('How many times over.')")
    schema = page.inner_text("#tool-schema")
    assert '"value"' in schema and '"integer"' in schema and '"required"' in schema
    assert '"value": 0' in page.input_value("#id_args")  # arguments start from the schema

    page.fill("#id_args", '{"value": 21}')
    page.click("#tool-run button[type=submit]")
    page.wait_for_selector("#run-result #run-status:text-is('success')")
    assert page.inner_text("#run-return") == "42"
    assert page.inner_text("#run-stdout") == "scaling 21 by 2"
    screenshot(page, "tool-editor-run")

    page.fill("#id_args", '{"value": -3, "factor": 5}')
    page.click("#tool-run button[type=submit]")
    page.wait_for_selector("#run-result #run-status:text-is('error')")
    assert "ValueError: cannot scale -3: it is negative" in page.inner_text("#run-return")
    screenshot(page, "tool-editor-error")

    page.fill("#id_args", "{oops")
    page.click("#tool-run button[type=submit]")
    page.wait_for_selector("#run-result .error:has-text('args: is not valid JSON')")

    # An edit is saved and its schema derived again.
    page.fill("#id_source_code", SOURCE.replace("factor: int = 2", "factor: float = 2.0"))
    page.wait_for_selector("#tool-schema pre.json:has-text('number')")
    page.click("#tool-form button[type=submit]")
    page.wait_for_selector("#tool-editor .ok:text-is('Saved.')")
    tool.refresh_from_db()
    assert tool.json_schema["parameters"]["properties"]["factor"]["type"] == "number"


def test_the_model_picker_switches_an_agents_model_and_its_context_window(
    daphne_server: LiveServer, page: Any, alice: Any
) -> None:
    page.set_default_timeout(30_000)
    agent = agent_create(actor=alice, name="Picky", model="openai/gpt-4o-mini", context_window_limit=128_000)
    sign_in(page, daphne_server, "alice", "password-alice")
    page.goto(f"{daphne_server.url}/agents/{agent.id}/context/")
    page.wait_for_selector("#panel h2:has-text('of 128000 tokens')")

    page.goto(f"{daphne_server.url}/agents/{agent.id}/settings/")
    picker = "form.settings input[name=model]"
    assert page.inner_text("#model-note") == "Context window: 128,000 tokens"
    offered = page.eval_on_selector_all("#model-options option", "os => os.map(o => [o.value, o.label])")
    assert ["openai/gpt-4.1", "1,047,576 tokens"] in offered
    assert ["openai/gpt-4o-mini", "128,000 tokens"] in offered
    page.fill(picker, "openai/gpt-4.1")
    page.wait_for_selector("#model-note:text-is('Context window: 1,047,576 tokens')")
    assert page.input_value("form.settings input[name=context_window_limit]") == "1047576"
    page.fill(picker, "someprovider/unlisted-model")
    page.wait_for_selector("#model-note:has-text('Not in the catalogue')")
    page.fill(picker, "openai/gpt-4.1")
    page.click("form.settings button[type=submit]")
    page.wait_for_selector("#panel .ok:text-is('Saved.')")
    page.wait_for_selector("#agent-model:text-is('openai/gpt-4.1')")
    screenshot(page, "model-picker-saved")
    agent.refresh_from_db()
    assert (agent.model, agent.context_window_limit) == ("openai/gpt-4.1", 1_047_576)

    page.locator(".tabs a", has_text=re.compile("^Context$")).click()
    page.wait_for_selector("#panel h2:has-text('of 1047576 tokens')")

    # The create form has the picker too: the window follows the picked model.
    page.goto(f"{daphne_server.url}/agents/new/")
    page.fill("#create-form input[name=name]", "Wide")
    page.fill("#create-form input[name=model]", "openai/gpt-4.1")
    page.wait_for_selector("#create-form #model-note:text-is('Context window: 1,047,576 tokens')")
    assert page.input_value("#create-form input[name=context_window_limit]") == "1047576"
    page.click("#create-form button[type=submit]")
    page.wait_for_selector("#agent-name:text-is('Wide')")
    assert Agent.objects.get(name="Wide").context_window_limit == 1_047_576
