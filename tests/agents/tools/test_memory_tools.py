"""Letta's memory tools, by their Letta names and parameters, through the one executor."""

import pytest

from agents.models import Tool
from agents.services.tools import builtin_tools_ensure
from agents.tools.builtin import BUILTIN_SCHEMAS, ToolContext
from agents.tools.execute import execute_tool
from memory.models import Block

pytestmark = pytest.mark.django_db


@pytest.fixture
def call(make_agent):
    agent = make_agent(memory_blocks=[{"label": "human", "value": "Name: Ada\nCat: Tom"}])
    tools = builtin_tools_ensure()

    def run(name, **args):
        result = execute_tool(ToolContext(agent=agent, run_id=None, step_id=None), tools[name], args)
        return result.is_err, result.text

    run.agent = agent
    return run


def value(agent, label="human"):
    return Block.objects.get(agents=agent, label=label).value


def test_the_offered_schemas_are_letta_s():
    params = {name: set(s["parameters"]["properties"]) for name, s in BUILTIN_SCHEMAS.items()}
    assert params["memory_insert"] == {"label", "new_string", "insert_line"}
    assert params["memory_replace"] == {"label", "old_string", "new_string"}
    assert params["memory_rethink"] == {"label", "new_memory"}
    assert params["memory_finish_edits"] == set()
    assert params["memory_apply_patch"] == {"label", "patch"}
    assert {"command", "path", "old_string", "new_string", "file_text"} <= params["memory"]
    assert params["fetch_webpage"] == {"url"}
    assert "query" in params["web_search"]
    assert builtin_tools_ensure()["web_search"].tool_type == Tool.ToolType.WEB == "letta_builtin"


def test_replace_and_insert_take_old_string_and_new_string(call):
    assert call("memory_replace", label="human", old_string="Tom", new_string="Tim") == (
        False,
        "The memory block 'human' has been updated.",
    )
    assert call("memory_insert", label="human", new_string="Likes jazz", insert_line=0)[0] is False
    assert value(call.agent) == "Likes jazz\nName: Ada\nCat: Tim"
    is_err, text = call("memory_replace", label="human", old_str="Tim", new_str="Tom")
    assert is_err and "old_string" in text  # the old parameter names are refused with the new ones named


def test_apply_patch_changes_the_matching_lines(call):
    patch = "@@\n Name: Ada\n-Cat: Tom\n+Cat: Tom (a tabby)\n+Dog: Rex"
    assert call("memory_apply_patch", label="human", patch=patch)[0] is False
    assert value(call.agent) == "Name: Ada\nCat: Tom (a tabby)\nDog: Rex"
    is_err, text = call("memory_apply_patch", label="human", patch="@@\n-Cat: Felix\n+Cat: Max")
    assert is_err and "hunk 1 does not match" in text
    assert value(call.agent) == "Name: Ada\nCat: Tom (a tabby)\nDog: Rex"


def test_the_omni_memory_tool(call):
    agent = call.agent
    assert call("memory", command="create", path="/memories/notes", file_text="first", description="Notes")[0] is False
    assert value(agent, "notes") == "first"
    assert (
        call("memory", command="str_replace", path="/memories/notes", old_string="first", new_string="second")[0]
        is False
    )
    assert call("memory", command="insert", path="notes", insert_line=-1, insert_text="third")[0] is False
    assert call("memory", command="view", path="/memories/notes") == (False, "second\nthird")
    assert call("memory", command="rename", old_path="/memories/notes", new_path="/memories/journal")[0] is False
    assert value(agent, "journal") == "second\nthird"
    assert call("memory", command="delete", path="/memories/journal")[0] is False
    assert not agent.blocks.filter(label="journal").exists()
    is_err, text = call("memory", command="explode", path="/memories/human")
    assert is_err and "must be one of" in text


def test_finish_edits_and_rethink(call):
    assert call("memory_finish_edits") == (False, "Memory edits finished.")
    assert call("memory_rethink", label="human", new_memory="Ada, cat Tom")[0] is False
    assert value(call.agent) == "Ada, cat Tom"
