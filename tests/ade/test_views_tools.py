"""The custom-tool editor and the model pickers, through the test client: the same services as the API's tool
routes, tenant isolation (another organization's tool is a 404 on every view), and refused input that saves
nothing."""

from typing import Any

import pytest
from django.test import Client

from agents.models import Agent, Tool
from agents.services.tools import tool_create

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}

ADD = '''def add(a: int, b: int = 2) -> int:
    """Add two numbers.

    Args:
        a: The first number.
        b: The second number.
    """
    print("adding", a, b)
    return a + b
'''
BROKEN = "def add(a: int, b: int) -> int\n    return a + b\n"


@pytest.fixture
def theirs(charlie: Any) -> Tool:
    return tool_create(actor=charlie, source_code=ADD.replace("add", "their_add"))


def test_it_creates_a_tool_whose_schema_comes_from_the_source(alice_client: Client, alice: Any) -> None:
    page = alice_client.get("/tools/new/").content.decode()
    assert "roll_dice" in page and "&quot;sides&quot;" in page  # the starter function and its derived schema
    response = alice_client.post("/tools/new/", {"source_code": ADD}, **HX)
    tool = Tool.objects.get(organization__memberships__user=alice, name="add")
    assert response.status_code == 200 and response["HX-Redirect"] == f"/tools/{tool.id}/?created=1"
    assert tool.json_schema["parameters"]["properties"]["a"] == {"type": "integer", "description": "The first number."}
    assert tool.json_schema["parameters"]["required"] == ["a"]
    page = alice_client.get(f"/tools/{tool.id}/?created=1").content.decode()
    assert "Saved." in page and "The first number." in page
    assert "add" in alice_client.get("/tools/").content.decode()


def test_a_syntax_error_is_a_field_error_and_nothing_is_saved(alice_client: Client, alice: Any) -> None:
    response = alice_client.post("/tools/new/", {"source_code": BROKEN}, **HX)
    assert response.status_code == 422
    page = response.content.decode()
    assert "Not saved: is not valid Python" in page and "(line 1)" in page
    assert 'aria-invalid="true"' in page and "def add(a: int, b: int) -&gt; int" in page  # what was typed is kept
    assert not Tool.objects.filter(organization__memberships__user=alice).exists()

    tool = tool_create(actor=alice, source_code=ADD)
    response = alice_client.post(f"/tools/{tool.id}/", {"source_code": BROKEN}, **HX)
    assert response.status_code == 422 and "is not valid Python" in response.content.decode()
    tool.refresh_from_db()
    assert tool.source_code == ADD


def test_it_refuses_a_second_tool_of_the_same_name_and_an_empty_source(alice_client: Client, alice: Any) -> None:
    tool_create(actor=alice, source_code=ADD)
    response = alice_client.post("/tools/new/", {"source_code": ADD}, **HX)
    assert (
        response.status_code == 422 and "name: a tool named &#x27;add&#x27; already exists" in response.content.decode()
    )
    response = alice_client.post("/tools/new/", {"source_code": ""}, **HX)
    assert response.status_code == 422 and "This field is required." in response.content.decode()
    assert Tool.objects.filter(organization__memberships__user=alice).count() == 1


def test_it_saves_an_edit_and_derives_the_schema_again(alice_client: Client, alice: Any) -> None:
    tool = tool_create(actor=alice, source_code=ADD)
    edited = ADD.replace("b: int = 2", "b: float = 2.0")
    response = alice_client.post(f"/tools/{tool.id}/", {"source_code": edited}, **HX)
    assert response.status_code == 200 and "Saved." in response.content.decode()
    tool.refresh_from_db()
    assert tool.json_schema["parameters"]["properties"]["b"]["type"] == "number"


def test_the_schema_preview_follows_the_source(alice_client: Client) -> None:
    response = alice_client.post("/tools/schema/", {"source_code": ADD}, **HX)
    assert response.status_code == 200 and "Add two numbers." in response.content.decode()
    response = alice_client.post("/tools/schema/", {"source_code": BROKEN}, **HX)
    assert response.status_code == 422 and "source_code: is not valid Python" in response.content.decode()


def test_a_run_shows_the_return_value_and_what_was_printed(alice_client: Client) -> None:
    response = alice_client.post("/tools/run/", {"source_code": ADD, "args": '{"a": 40}'}, **HX)
    page = response.content.decode()
    assert response.status_code == 200
    assert '<pre class="json" id="run-return">42</pre>' in page and "adding 40 2" in page


def test_a_raised_error_is_shown_with_its_message(alice_client: Client) -> None:
    source = (
        "def boom(x: str) -> str:\n"
        "    import sys\n"
        "    print('to stderr', file=sys.stderr)\n"
        "    raise ValueError(f'bad {x}')\n"
    )
    response = alice_client.post("/tools/run/", {"source_code": source, "args": '{"x": "input"}'}, **HX)
    page = response.content.decode()
    assert response.status_code == 200 and ">error</span>" in page
    assert "ValueError: bad input" in page and "to stderr" in page


def test_bad_run_arguments_are_a_422_naming_args(alice_client: Client) -> None:
    response = alice_client.post("/tools/run/", {"source_code": ADD, "args": "{not json"}, **HX)
    assert response.status_code == 422 and "args: is not valid JSON" in response.content.decode()
    response = alice_client.post("/tools/run/", {"source_code": ADD, "args": "[1, 2]"}, **HX)
    assert response.status_code == 422 and "args: must be a JSON object" in response.content.decode()
    response = alice_client.post("/tools/run/", {"source_code": ADD, "args": '{"a": "x"}'}, **HX)
    assert response.status_code == 200 and ">error</span>" in response.content.decode()  # checked by the schema


def test_another_organizations_tool_is_a_404(alice_client: Client, theirs: Tool) -> None:
    assert alice_client.get(f"/tools/{theirs.id}/").status_code == 404
    assert alice_client.post(f"/tools/{theirs.id}/", {"source_code": ADD}, **HX).status_code == 404
    assert alice_client.post(f"/tools/{theirs.id}/delete/", **HX).status_code == 404
    assert "their_add" not in alice_client.get("/tools/").content.decode()
    theirs.refresh_from_db()
    assert theirs.source_code.startswith("def their_add")


def test_a_new_tool_for_another_organizations_agent_is_a_404_and_not_created(
    charlie_client: Client, agent: Agent
) -> None:
    assert charlie_client.get(f"/tools/new/?agent={agent.id}").status_code == 404
    response = charlie_client.post("/tools/new/", {"source_code": ADD, "agent": str(agent.id)}, **HX)
    assert response.status_code == 404
    assert not Tool.objects.filter(name="add").exists()


def test_a_tool_made_from_an_agents_panel_is_attached_to_it(alice_client: Client, agent: Agent) -> None:
    panel = alice_client.get(f"/agents/{agent.id}/tools/", **HX).content.decode()
    assert f"/tools/new/?agent={agent.id}" in panel
    refused = alice_client.post("/tools/new/", {"source_code": BROKEN, "agent": str(agent.id)}, **HX)
    assert refused.status_code == 422 and "Create and attach to Ada" in refused.content.decode()
    assert not agent.tools.filter(name="add").exists()
    response = alice_client.post("/tools/new/", {"source_code": ADD, "agent": str(agent.id)}, **HX)
    assert response["HX-Redirect"] == f"/agents/{agent.id}/tools/"
    tool = agent.tools.get(name="add")
    panel = alice_client.get(f"/agents/{agent.id}/tools/", **HX).content.decode()
    assert f"/tools/{tool.id}/" in panel


def test_a_builtin_tool_is_shown_read_only_and_cannot_be_changed(alice_client: Client) -> None:
    builtin = Tool.objects.get(organization=None, name="conversation_search")
    page = alice_client.get(f"/tools/{builtin.id}/").content.decode()
    assert "cannot be edited" in page and 'name="source_code"' not in page
    assert "&quot;query&quot;" in page  # its schema
    response = alice_client.post(f"/tools/{builtin.id}/", {"source_code": ADD}, **HX)
    assert response.status_code == 422 and "built-in tools cannot be changed" in response.content.decode()
    assert alice_client.post(f"/tools/{builtin.id}/delete/", **HX).status_code == 422
    assert Tool.objects.filter(pk=builtin.pk, source_code="").exists()


def test_a_tool_can_be_deleted(alice_client: Client, alice: Any) -> None:
    tool = tool_create(actor=alice, source_code=ADD)
    response = alice_client.post(f"/tools/{tool.id}/delete/", **HX)
    assert response["HX-Redirect"] == "/tools/"
    assert not Tool.objects.filter(pk=tool.pk).exists()


def test_the_pickers_offer_the_catalogue_with_windows(alice_client: Client, agent: Agent, settings: Any) -> None:
    settings.OPENAI_API_KEY = "sk-test"
    page = alice_client.get(f"/agents/{agent.id}/settings/", **HX).content.decode()
    assert 'list="model-options"' in page and 'data-model-picker="chat"' in page
    assert '<option value="openai/gpt-4.1" label="1,047,576 tokens" data-size="1047576">' in page
    assert "Context window: 128,000 tokens" in page  # the agent's model, gpt-4o-mini
    assert '<option value="local/all-minilm-l6-v2-int8" label="384 dimensions" data-size="384">' in page
    home = alice_client.get("/agents/new/").content.decode()
    assert 'data-model-picker="chat"' in home and 'name="context_window_limit"' in home


def test_agent_create_takes_the_picked_window(alice_client: Client, alice: Any) -> None:
    data = {"name": "Wide", "preset": "blank", "model": "openai/gpt-4.1", "context_window_limit": "1047576"}
    alice_client.post("/agents/new/", data)
    assert Agent.objects.get(name="Wide").context_window_limit == 1_047_576
    response = alice_client.post("/agents/new/", {**data, "name": "Tiny", "context_window_limit": "10"})
    assert response.status_code == 422 and "greater than or equal to 1000" in response.content.decode()
    assert not Agent.objects.filter(name="Tiny").exists()
    alice_client.post("/agents/new/", {**data, "name": "Default", "context_window_limit": ""})
    assert (
        Agent.objects.get(name="Default").context_window_limit == Agent._meta.get_field("context_window_limit").default
    )


def test_the_editor_says_when_custom_tools_cannot_run(alice_client: Client, settings: Any) -> None:
    assert 'id="sandbox-disabled"' not in alice_client.get("/tools/new/").content.decode()
    settings.ENGRAM_BWRAP = "/nonexistent/bwrap"
    page = alice_client.get("/tools/new/").content.decode()
    assert 'id="sandbox-disabled"' in page and "bubblewrap (/nonexistent/bwrap) is not installed" in page
    response = alice_client.post("/tools/run/", {"source_code": ADD, "args": '{"a": 1}'}, **HX)
    assert ">error</span>" in response.content.decode() and "is not installed" in response.content.decode()
