import pytest
from django.core.exceptions import ValidationError

from agents.models import Agent, AgentType, Tool
from agents.selectors import agent_get, agent_list, agent_tags, tool_list
from agents.services.agents import (
    agent_block_attach,
    agent_block_detach,
    agent_create,
    agent_delete,
    agent_tool_attach,
    agent_tool_detach,
    agent_update,
)
from agents.services.tools import builtin_tools_ensure, tool_create, tool_delete, tool_update, tool_upsert
from agents.tools.builtin import BUILTIN_SCHEMAS
from agents.tools.schema import schema_from_source
from memory.models import Block
from memory.services.blocks import block_create

pytestmark = pytest.mark.django_db


def tool_names(agent: Agent) -> list[str]:
    return sorted(agent.tools.values_list("name", flat=True))


def test_it_creates_a_v1_agent_with_base_tools_and_blocks(alice):
    agent = agent_create(
        actor=alice,
        model="openai/gpt-4o-mini",
        memory_blocks=[
            {"label": "human", "value": "Name: Ada"},
            {"label": "persona", "value": "Helpful", "limit": 500},
        ],
        tools=["archival_memory_insert", "archival_memory_search"],
        tags=["b", "a"],
    )
    assert agent.agent_type == AgentType.V1
    assert agent.name  # a random readable name
    assert agent.system
    assert tool_names(agent) == sorted(
        ["conversation_search", "memory_insert", "memory_replace", "archival_memory_insert", "archival_memory_search"]
    )
    assert sorted(agent.blocks.values_list("label", flat=True)) == ["human", "persona"]
    assert agent.blocks.get(label="persona").limit == 500
    assert agent_tags(agent=agent) == ["a", "b"]


@pytest.mark.parametrize("wire", ["react_agent", "letta_v1_agent"])
def test_it_accepts_letta_v1_type_names_and_keeps_the_alias(alice, wire):
    agent = agent_create(actor=alice, agent_type=wire, model="openai/gpt-4o-mini")
    assert (agent.agent_type, agent.agent_type_alias) == (AgentType.V1, wire)


@pytest.mark.parametrize("wire", ["memgpt_agent", "memgpt_v2_agent", "memgpt"])
def test_it_accepts_letta_type_names_and_keeps_the_alias(alice, wire):
    agent = agent_create(actor=alice, agent_type=wire, model="openai/gpt-4o-mini")
    assert agent.agent_type == AgentType.MEMGPT
    assert agent.agent_type_alias == wire
    assert tool_names(agent) == sorted(
        ["send_message", "core_memory_append", "core_memory_replace", "conversation_search"]
    )
    assert "send_message" in agent.system


def test_validation_errors_name_the_field_and_roll_everything_back(alice):
    with pytest.raises(ValidationError) as exc:
        agent_create(
            actor=alice, model="openai/gpt-4o-mini", memory_blocks=[{"label": "human", "value": "x" * 30, "limit": 10}]
        )
    assert "memory_blocks" in exc.value.message_dict
    assert "Exceeds 10 character limit" in str(exc.value)
    assert not Agent.objects.exists() and not Block.objects.exists()
    for kwargs, field in [
        ({"agent_type": "nope"}, "agent_type"),
        ({"model": "gpt"}, "model"),
        ({"tools": ["no_such_tool"]}, "tools"),
        ({"context_window_limit": 5}, "context_window_limit"),
        ({"timezone": "Mars/Base"}, "timezone"),
        ({"memory_blocks": [{"label": "a"}, {"label": "a"}]}, "memory_blocks"),
        ({"model_settings": {"temperature": 9}}, "model_settings"),
    ]:
        with pytest.raises(ValidationError) as exc:
            agent_create(actor=alice, **{"model": "openai/gpt-4o-mini", **kwargs})
        assert field in exc.value.message_dict, kwargs


def test_block_attach_keeps_labels_unique_and_shares_blocks(alice):
    one = agent_create(actor=alice, model="openai/gpt-4o-mini", memory_blocks=[{"label": "human", "value": "x"}])
    two = agent_create(actor=alice, model="openai/gpt-4o-mini")
    shared = block_create(actor=alice, label="team", value="we ship on fridays")
    agent_block_attach(agent=one, block=shared)
    agent_block_attach(agent=two, block=shared)
    assert shared.agents.count() == 2
    with pytest.raises(ValidationError, match="already has a block labelled 'human'"):
        agent_block_attach(agent=one, block=block_create(actor=alice, label="human"))
    agent_block_detach(agent=one, block=shared)
    assert list(one.blocks.values_list("label", flat=True)) == ["human"]


def test_update_and_delete(alice):
    agent = agent_create(actor=alice, name="before", model="openai/gpt-4o-mini", tags=["x"])
    agent_update(agent=agent, name="after", tags=["y"], model_settings={"temperature": 0.2}, context_window_limit=4000)
    agent = Agent.objects.get(pk=agent.pk)
    assert (agent.name, agent.context_window_limit, agent_tags(agent=agent)) == ("after", 4000, ["y"])
    agent_delete(agent=agent)
    assert not Agent.objects.exists()


def test_list_filters_and_tenancy(alice, bob, charlie):
    a = agent_create(actor=alice, name="alpha", model="openai/gpt-4o-mini", tags=["red", "big"], description="cats")
    b = agent_create(actor=alice, name="beta", model="openai/gpt-4o-mini", tags=["red"])
    agent_create(actor=charlie, name="gamma", model="openai/gpt-4o-mini", tags=["red"])
    assert set(agent_list(actor=bob)) == {a, b}
    assert list(agent_list(actor=bob, name="alpha")) == [a]
    assert set(agent_list(actor=bob, tags=["red", "big"])) == {a, b}
    assert list(agent_list(actor=bob, tags=["red", "big"], match_all_tags=True)) == [a]
    assert list(agent_list(actor=bob, query_text="CAT")) == [a]
    with pytest.raises(Agent.DoesNotExist):
        agent_get(actor=charlie, agent_id=a.id)


def test_builtin_tools_are_idempotent_with_correct_schemas(alice):
    builtin_tools_ensure()
    builtin_tools_ensure()
    tools = {t.name: t for t in Tool.objects.filter(organization=None)}
    assert set(tools) == set(BUILTIN_SCHEMAS)
    params = {name: set(t.json_schema["parameters"]["properties"]) for name, t in tools.items()}
    assert params["memory_insert"] == {"label", "new_string", "insert_line"}
    assert params["memory_replace"] == {"label", "old_string", "new_string"}
    assert params["memory_rethink"] == {"label", "new_memory"}
    assert params["core_memory_append"] == {"label", "content"}
    assert params["core_memory_replace"] == {"label", "old_content", "new_content"}
    assert params["conversation_search"] == {"query", "roles", "limit", "start_date", "end_date"}
    assert params["archival_memory_insert"] == {"content", "tags"}
    assert params["archival_memory_search"] == {
        "query",
        "tags",
        "tag_match_mode",
        "top_k",
        "start_datetime",
        "end_datetime",
    }
    assert params["send_message"] == {"message"}
    assert all(t.json_schema["name"] == n and t.description for n, t in tools.items())


SOURCE = '''
def roll_dice(sides: int, times: int = 1, label: str | None = None) -> str:
    """Roll dice and report the total.

    Args:
        sides (int): Number of sides on each die.
        times: How many dice
            to roll.
        label: Optional label.

    Returns:
        str: The total.
    """
    return str(sides * times)
'''


def test_schema_from_source_uses_signature_and_google_docstring():
    schema = schema_from_source(SOURCE)
    assert schema == {
        "name": "roll_dice",
        "description": "Roll dice and report the total.",
        "parameters": {
            "type": "object",
            "properties": {
                "sides": {"type": "integer", "description": "Number of sides on each die."},
                "times": {"type": "integer", "description": "How many dice to roll."},
                "label": {"type": "string", "description": "Optional label."},
            },
            "required": ["sides"],
        },
    }


def test_custom_tool_lifecycle(alice, charlie):
    tool = tool_create(actor=alice, source_code=SOURCE, tags=["games"])
    assert tool.name == "roll_dice" and tool.json_schema["parameters"]["required"] == ["sides"]
    with pytest.raises(ValidationError):
        tool_create(actor=alice, source_code=SOURCE)
    same = tool_upsert(actor=alice, source_code=SOURCE.replace("report the total", "sum them"))
    assert same.pk == tool.pk and same.description == "Roll dice and sum them."
    tool_update(tool=same, description="Dice!")
    assert Tool.objects.get(pk=tool.pk).json_schema["description"] == "Dice!"
    assert "roll_dice" in {t.name for t in tool_list(actor=alice)}
    assert "roll_dice" not in {t.name for t in tool_list(actor=charlie)}
    agent = agent_create(actor=alice, model="openai/gpt-4o-mini", tools=["roll_dice"])
    assert "roll_dice" in tool_names(agent)
    agent_tool_detach(agent=agent, tool=tool)
    agent_tool_attach(agent=agent, tool=tool)
    assert "roll_dice" in tool_names(agent)
    with pytest.raises(ValidationError):
        tool_create(actor=alice, source_code="def broken(:\n  pass")
    with pytest.raises(ValidationError):
        tool_create(actor=alice, source_code="def send_message(message: str) -> str:\n    return message\n")
    tool_delete(tool=tool)
    assert not Tool.objects.filter(pk=tool.pk).exists()


def test_changing_the_embedding_model_starts_a_reembed_job(alice, django_capture_on_commit_callbacks):
    from memory.models import EmbeddingJob

    agent = agent_create(actor=alice, model="openai/gpt-4o-mini")
    with django_capture_on_commit_callbacks(execute=False):
        agent_update(agent=agent, name="renamed")
    assert not EmbeddingJob.objects.filter(agent_id=agent.id).exists()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        agent_update(agent=agent, embedding="openai/text-embedding-3-small")
    job = EmbeddingJob.objects.get(agent_id=agent.id)
    assert job.model == "openai/text-embedding-3-small"
    assert callbacks, "the re-embed work is dispatched after commit"
    with pytest.raises(ValidationError) as excinfo:
        agent_update(agent=agent, embedding=42)
    assert "embedding" in excinfo.value.message_dict


def test_changing_the_type_keeps_a_custom_prompt_and_swaps_base_tools(alice):
    agent = agent_create(actor=alice, model="openai/gpt-4o-mini", system="Custom prompt.")
    agent_update(agent=agent, agent_type="memgpt_agent")
    agent = Agent.objects.get(pk=agent.pk)
    assert (agent.agent_type, agent.agent_type_alias, agent.system) == (
        AgentType.MEMGPT,
        "memgpt_agent",
        "Custom prompt.",
    )
    assert "send_message" in tool_names(agent)
    with pytest.raises(ValidationError) as excinfo:
        agent_update(agent=agent, agent_type="robot")
    assert "agent_type" in excinfo.value.message_dict


def test_upsert_sets_the_return_limit_in_the_same_write(alice):
    source = (
        'def echo(text: str) -> str:\n    """Echo.\n\n    Args:\n        text: what to echo\n    """\n    return text\n'
    )
    created = tool_upsert(actor=alice, source_code=source, return_char_limit=100)
    replaced = tool_upsert(actor=alice, source_code=source, return_char_limit=200)
    assert (created.pk, Tool.objects.get(pk=created.pk).return_char_limit) == (replaced.pk, 200)
    with pytest.raises(ValidationError) as excinfo:
        tool_upsert(actor=alice, source_code=source, return_char_limit=0)
    assert "return_char_limit" in excinfo.value.message_dict


def test_include_base_tool_rules_adds_the_rules_of_the_type(alice):
    """Regression: include_base_tool_rules was accepted and ignored."""
    memgpt = agent_create(
        actor=alice, name="m", model="openai/gpt-4o-mini", agent_type="memgpt_v2_agent", include_base_tool_rules=True
    )
    assert memgpt.tool_rules == [
        {"type": "exit_loop", "tool_name": "send_message"},
        {"type": "continue_loop", "tool_name": "core_memory_append"},
        {"type": "continue_loop", "tool_name": "core_memory_replace"},
        {"type": "continue_loop", "tool_name": "conversation_search"},
    ]
    v1 = agent_create(actor=alice, name="v", model="openai/gpt-4o-mini", include_base_tool_rules=True)
    assert [(r["type"], r["tool_name"]) for r in v1.tool_rules] == [
        ("continue_loop", "conversation_search"),
        ("continue_loop", "memory_insert"),
        ("continue_loop", "memory_replace"),
    ]
    # Only for base tools the agent has; the caller's own rules stay first and are not repeated.
    own = {"type": "exit_loop", "tool_name": "send_message"}
    bare = agent_create(
        actor=alice,
        name="b",
        model="openai/gpt-4o-mini",
        agent_type="memgpt",
        include_base_tools=False,
        tool_rules=[own],
        include_base_tool_rules=True,
    )
    assert bare.tool_rules == [own]
    plain = agent_create(actor=alice, name="p", model="openai/gpt-4o-mini")
    assert plain.tool_rules == []


def test_include_base_tool_rules_on_update(alice):
    agent = agent_create(actor=alice, name="a", model="openai/gpt-4o-mini", tool_rules=[_MAX_RULE])
    agent = agent_update(agent=agent, agent_type="memgpt", include_base_tool_rules=True)
    assert agent.tool_rules[0] == _MAX_RULE
    assert {"type": "exit_loop", "tool_name": "send_message"} in agent.tool_rules
    agent = agent_update(agent=agent, include_base_tool_rules=False)
    assert agent.tool_rules == [_MAX_RULE]
    assert Agent.objects.get(pk=agent.pk).tool_rules == [_MAX_RULE]


_MAX_RULE = {"type": "max_count_per_step", "tool_name": "conversation_search", "max_count_limit": 2}
