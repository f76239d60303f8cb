"""Agent files (.af) over the REST API: export, import (fresh ids, mapped references, options), bad files, tenancy."""

import io
import json
import time
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.selectors import organization_id_for
from agents.models import Agent, Message, Tool
from agents.services.agents import agent_block_attach, agent_create
from agents.services.messages import MessageSpec, message_create_many
from agents.services.tools import tool_create
from api.agent_files import agent_export, agent_import
from lib.ids import parse_id, public_id
from memory.embeddings import LOCAL_MINILM
from memory.models import Block, Passage
from memory.services.blocks import block_create
from memory.services.passages import passage_insert

pytestmark = pytest.mark.django_db

FIXTURE = Path(__file__).parent / "fixtures" / "minimal.af"
COUNT_SOURCE = '''
def count_plants(kind: str) -> str:
    """Count the plants of one kind, the old way.

    Args:
        kind: The kind of plant.
    """
    return "0"
'''
WEATHER_SOURCE = '''
def weather(city: str) -> str:
    """Today's weather.

    Args:
        city: Where.
    """
    return "sunny in " + city
'''


def upload(client: APIClient, content: bytes | str, **fields: Any) -> Any:
    raw = content.encode() if isinstance(content, str) else content
    return client.post("/v1/agents/import", {"file": io.BytesIO(raw), **fields}, format="multipart")


def rows() -> tuple[int, int, int, int, int]:
    return (
        Agent.objects.count(),
        Block.objects.count(),
        Tool.objects.exclude(organization=None).count(),
        Message.objects.count(),
        Passage.objects.count(),
    )


@pytest.fixture
def source_agent(alice: Any) -> Agent:
    """Two blocks (one shared with another agent), a custom tool, a few messages in and out of context,
    a tool call with its result, an archival passage and a running summary."""
    agent = agent_create(
        actor=alice,
        name="Ada",
        model="openai/gpt-4o-mini",
        memory_blocks=[{"label": "human", "value": "Name: Alice", "limit": 300}],
        tags=["export"],
        metadata={"team": "a"},
        tool_rules=[{"type": "exit_loop", "tool_name": "weather"}],
    )
    shared = block_create(actor=alice, label="team", value="Team: research")
    agent_block_attach(agent=agent, block=shared)
    other = agent_create(actor=alice, name="Other", model="openai/gpt-4o-mini")
    agent_block_attach(agent=other, block=shared)
    tool = tool_create(actor=alice, source_code=WEATHER_SOURCE)
    agent.tools.add(tool)
    message_create_many(
        agent=agent,
        specs=[
            MessageSpec(role="user", text="An old hello", in_context=False),
            MessageSpec(role="user", text="What is the weather in Oslo?", otid="otid-9"),
            MessageSpec(
                role="assistant",
                reasoning="The user wants the weather.",
                tool_calls=[
                    {
                        "id": "call-7",
                        "type": "function",
                        "function": {"name": "weather", "arguments": '{"city":"Oslo"}'},
                    }
                ],
            ),
            MessageSpec(role="tool", text="sunny in Oslo", tool_call_id="call-7", name="weather"),
            MessageSpec(role="assistant", text="It is sunny in Oslo."),
        ],
    )
    Agent.objects.filter(pk=agent.pk).update(summary="Earlier: they said hello.")
    passage_insert(agent=agent, text="Alice likes Oslo", tags=["travel"])
    agent.refresh_from_db()
    return agent


def history(agent: Agent) -> list[tuple[Any, ...]]:
    return [
        (m.role, m.text, m.reasoning, m.tool_call_id, m.name, m.in_context, m.is_err, m.otid, m.created_at)
        for m in agent.messages.order_by("seq")
    ]


def test_it_exports_an_agent_file_with_everything_needed_to_continue(alice_api: APIClient, source_agent: Agent) -> None:
    response = alice_api.get(f"/v1/agents/{public_id('agent', source_agent.id)}/export")
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="Ada.af"'
    document = json.loads(response.content)
    [entry] = document["agents"]
    assert entry["name"] == "Ada" and entry["model"] == "openai/gpt-4o-mini" and entry["tags"] == ["export"]
    assert entry["tool_rules"] == [{"type": "exit_loop", "tool_name": "weather"}]
    labels = {b["id"]: b["label"] for b in document["blocks"]}
    assert sorted(labels[i] for i in entry["block_ids"]) == ["human", "team"]
    tools = {t["id"]: t for t in document["tools"]}
    assert {tools[i]["name"] for i in entry["tool_ids"]} >= {"weather", "memory_replace"}
    [weather] = [t for t in document["tools"] if t["name"] == "weather"]
    assert weather["source_code"] == WEATHER_SOURCE and weather["json_schema"]["name"] == "weather"
    assert [m["role"] for m in entry["messages"]] == ["user", "user", "assistant", "tool", "assistant"]
    assert entry["in_context_message_ids"] == [m["id"] for m in entry["messages"][1:]]
    assert entry["messages"][3]["tool_returns"][0]["func_response"] == "sunny in Oslo"
    assert entry["engram"]["summary"] == "Earlier: they said hello."
    assert [p["text"] for p in entry["engram"]["archival_passages"]] == ["Alice likes Oslo"]
    # No server id leaks into the file: its ids are file-local.
    assert str(source_agent.id) not in response.content.decode()

    scrubbed = json.loads(
        alice_api.get(f"/v1/agents/{public_id('agent', source_agent.id)}/export?scrub_messages=true").content
    )
    assert scrubbed["agents"][0]["messages"] == [] and scrubbed["agents"][0]["in_context_message_ids"] == []
    posted = alice_api.post(f"/v1/agents/{public_id('agent', source_agent.id)}/export", {"skills": []}, format="json")
    assert posted.status_code == 200 and json.loads(posted.content)["agents"][0]["name"] == "Ada"


def test_an_export_imports_into_another_organization_with_new_ids(
    alice_api: APIClient, charlie_api: APIClient, source_agent: Agent, charlie: Any
) -> None:
    exported = alice_api.get(f"/v1/agents/{public_id('agent', source_agent.id)}/export").content
    response = upload(charlie_api, exported)
    assert response.status_code == 200, response.content
    [copy_id] = response.json()["agent_ids"]
    copy = Agent.objects.get(pk=parse_id("agent", copy_id))
    assert copy.pk != source_agent.pk and copy.organization_id == organization_id_for(charlie)
    assert (copy.name, copy.model, copy.system, copy.agent_type) == (
        source_agent.name,
        source_agent.model,
        source_agent.system,
        source_agent.agent_type,
    )
    assert copy.tool_rules == source_agent.tool_rules and copy.metadata == {"team": "a"}
    assert copy.summary == "Earlier: they said hello."
    assert sorted(copy.tag_rows.values_list("tag", flat=True)) == ["export"]
    # Blocks: same labels, values and limits, new rows in charlie's organization.
    theirs = {b.label: b for b in copy.blocks.all()}
    mine = {b.label: b for b in source_agent.blocks.all()}
    assert {k: (b.value, b.limit) for k, b in theirs.items()} == {k: (b.value, b.limit) for k, b in mine.items()}
    assert not {b.pk for b in theirs.values()} & {b.pk for b in mine.values()}
    assert {b.organization_id for b in theirs.values()} == {copy.organization_id}
    # Tools: the custom one is recreated in charlie's organization; built-ins are the shared rows.
    weather = copy.tools.get(name="weather")
    assert weather.organization_id == copy.organization_id and weather.source_code == WEATHER_SOURCE
    assert {t.name for t in copy.tools.all()} == {t.name for t in source_agent.tools.all()}
    # Messages: same history, window and order, fresh ids.
    assert history(copy) == history(source_agent)
    assert not set(copy.messages.values_list("id", flat=True)) & set(source_agent.messages.values_list("id", flat=True))
    call = copy.messages.get(role="assistant", text="")
    assert call.tool_calls[0]["function"]["name"] == "weather"
    assert [p.text for p in Passage.objects.filter(agent=copy)] == ["Alice likes Oslo"]
    # The SDK reads the new agent's messages like any other.
    listed = charlie_api.get(f"/v1/agents/{copy_id}/messages?order=asc").json()
    assert [m["message_type"] for m in listed][:2] == ["user_message", "user_message"]


def test_a_hand_written_minimal_file_imports(alice_api: APIClient, alice: Any) -> None:
    response = upload(alice_api, FIXTURE.read_bytes())
    assert response.status_code == 200, response.content
    agent = Agent.objects.get(pk=parse_id("agent", response.json()["agent_ids"][0]))
    assert (agent.name, agent.description, agent.system) == (
        "Gardener",
        "Knows the garden",
        "You are a gardening assistant.",
    )
    assert agent.model == "openai/gpt-4o-mini" and agent.embedding == "openai/text-embedding-3-small"
    assert agent.context_window_limit == 16000 and agent.model_settings == {"temperature": 0.3}
    assert agent.tool_rules == [{"type": "continue_loop", "tool_name": "count_plants", "prompt_template": None}]
    assert {b.label: b.value for b in agent.blocks.all()} == {"human": "Grows roses.", "persona": "A patient gardener."}
    assert agent.blocks.get(label="human").limit == 500
    assert {t.name: t.organization_id for t in agent.tools.all()} == {
        "count_plants": agent.organization_id,
        "conversation_search": None,
    }
    # The compiled system prompt (Letta's first in-context message) is not imported: Engram compiles its own.
    stored = list(agent.messages.order_by("seq"))
    assert [(m.role, m.text, m.in_context) for m in stored] == [
        ("user", "An old question", False),
        ("user", "How many roses do I have?", True),
        ("assistant", "", True),
        ("tool", "12", True),
        ("assistant", "You have 12 roses.", True),
    ]
    assert stored[2].tool_calls[0]["function"] == {"name": "count_plants", "arguments": '{"kind": "rose"}'}
    assert stored[3].tool_call_id == "call-1" and stored[3].name == "count_plants"
    assert stored[0].created_at.isoformat() == "2025-05-01T10:01:00+00:00"
    wire = alice_api.get(f"/v1/agents/{public_id('agent', agent.id)}/messages?order=asc").json()
    assert [m["message_type"] for m in wire] == [
        "user_message",
        "user_message",
        "tool_call_message",
        "tool_return_message",
        "assistant_message",
    ]


def test_a_double_encoded_file_imports(alice_api: APIClient) -> None:
    response = upload(alice_api, json.dumps(FIXTURE.read_text()))
    assert response.status_code == 200, response.content
    assert Agent.objects.get(pk=parse_id("agent", response.json()["agent_ids"][0])).name == "Gardener"


def test_the_import_options(alice_api: APIClient, alice: Any) -> None:
    response = upload(
        alice_api,
        FIXTURE.read_bytes(),
        name="Rosie",
        append_copy_suffix="true",
        strip_messages="true",
        model="anthropic/claude-3-5-haiku",
    )
    assert response.status_code == 200, response.content
    agent = Agent.objects.get(pk=parse_id("agent", response.json()["agent_ids"][0]))
    assert agent.name == "Rosie_copy" and agent.model == "anthropic/claude-3-5-haiku"
    assert not agent.messages.exists()
    assert agent.blocks.count() == 2


def test_a_files_model_endpoint_is_kept_only_where_the_operator_allows_it(alice_api: APIClient, settings: Any) -> None:
    settings.OPENAI_API_BASE = "http://10.0.0.7:8000/v1"
    settings.ENGRAM_ALLOWED_API_BASES = ["http://10.0.0.8:11434/v1"]

    def imported(endpoint: str, **fields: Any) -> Agent:
        response = upload(
            alice_api, _edit(lambda d: d["agents"][0]["llm_config"].update(model_endpoint=endpoint)), **fields
        )
        assert response.status_code == 200, response.content
        return Agent.objects.get(pk=parse_id("agent", response.json()["agent_ids"][0]))

    # Files exported from Letta name the provider's public URL: the handle leads there anyway, nothing is stored.
    assert imported("https://api.openai.com/v1").model_settings == {"temperature": 0.3}
    assert imported("http://10.0.0.7:8000/v1/").model_settings == {"temperature": 0.3}  # the default anyway
    listed = imported("http://10.0.0.8:11434/v1")
    assert listed.model_settings == {"temperature": 0.3, "api_base": "http://10.0.0.8:11434/v1"}
    # With a model chosen at import the file's endpoint no longer applies.
    overridden = imported("http://collector.example:8283", model="openai/gpt-4o")
    assert overridden.model == "openai/gpt-4o" and "api_base" not in overridden.model_settings


def test_secrets_are_not_exported_and_are_given_at_import(
    alice_api: APIClient, alice: Any, source_agent: Agent
) -> None:
    from agents.services.agents import agent_update
    from agents.tools.secrets import agent_secrets

    agent_update(agent=source_agent, secrets={"WEATHER_KEY": "abc-123"})
    exported = alice_api.get(f"/v1/agents/{public_id('agent', source_agent.id)}/export").content.decode()
    assert "abc-123" not in exported and "WEATHER_KEY" not in exported

    response = upload(alice_api, exported, secrets=json.dumps({"WEATHER_KEY": "new-key"}))
    assert response.status_code == 200, response.content
    copy = Agent.objects.get(pk=parse_id("agent", response.json()["agent_ids"][0]))
    assert agent_secrets(agent=copy) == {"WEATHER_KEY": "new-key"}

    # A file may carry secrets (Letta writes them); the form's win. The older field name works too.
    document = json.loads(exported)
    document["agents"][0]["secrets"] = {"WEATHER_KEY": "from-file", "UNITS": "metric"}
    response = upload(alice_api, json.dumps(document), env_vars_json=json.dumps({"WEATHER_KEY": "form"}))
    copy = Agent.objects.get(pk=parse_id("agent", response.json()["agent_ids"][0]))
    assert agent_secrets(agent=copy) == {"UNITS": "metric", "WEATHER_KEY": "form"}

    before = rows()
    for fields, field in [({"secrets": "not json"}, "secrets"), ({"env_vars_json": "[1]"}, "env_vars_json")]:
        response = upload(alice_api, exported, **fields)
        assert response.status_code == 422 and field in response.json()["detail"]
    response = upload(alice_api, exported, secrets=json.dumps({"bad-name": "x"}))
    assert response.status_code == 422 and "agents[0].secrets" in response.json()["detail"]
    assert rows() == before


def test_an_existing_tool_is_reused_unless_overridden(alice_api: APIClient, alice: Any) -> None:
    mine = tool_create(actor=alice, source_code=COUNT_SOURCE)
    first = upload(alice_api, FIXTURE.read_bytes())
    agent = Agent.objects.get(pk=parse_id("agent", first.json()["agent_ids"][0]))
    assert agent.tools.get(name="count_plants").pk == mine.pk
    mine.refresh_from_db()
    assert mine.source_code == COUNT_SOURCE
    second = upload(alice_api, FIXTURE.read_bytes(), override_existing_tools="true")
    agent = Agent.objects.get(pk=parse_id("agent", second.json()["agent_ids"][0]))
    assert agent.tools.get(name="count_plants").pk == mine.pk
    mine.refresh_from_db()
    assert 'return "12"' in mine.source_code
    assert Tool.objects.filter(name="count_plants").count() == 1


def _minimal() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(FIXTURE.read_text())
    return data


def _edit(change: Any) -> bytes:
    data = _minimal()
    change(data)
    return json.dumps(data).encode()


BAD_FILES = {
    "not-json": (b"{this is not json", "file"),
    "not-utf8": (b"\xff\xfe\x00{", "file"),
    "a-list": (b"[1, 2]", "file"),
    "no-agents": (json.dumps({"blocks": []}).encode(), "agents: must be a list"),
    "legacy-format": (json.dumps({"agent_type": "memgpt_agent", "core_memory": []}).encode(), "legacy single-agent"),
    "unknown-tool-type": (_edit(lambda d: d["tools"][0].update(tool_type="external_composio")), "tools[0].tool_type"),
    "unknown-builtin": (_edit(lambda d: d["tools"][1].update(name="run_code")), "tools[1].name"),
    "block-over-limit": (_edit(lambda d: d["blocks"][0].update(value="x" * 501)), "blocks[0].value"),
    "dangling-block-id": (_edit(lambda d: d["agents"][0]["block_ids"].append("block-9")), "agents[0].block_ids[2]"),
    "bad-role": (_edit(lambda d: d["agents"][0]["messages"][2].update(role="robot")), "agents[0].messages[2].role"),
    "bad-date": (
        _edit(lambda d: d["agents"][0]["messages"][1].update(created_at="yesterday")),
        "agents[0].messages[1].created_at",
    ),
    "bad-tool-source": (
        _edit(lambda d: d["tools"][0].update(source_code="def other(): pass")),
        "tools[0].",
    ),
    "nan": (FIXTURE.read_bytes().replace(b'"origin": "hand-written"', b'"origin": NaN'), "file: holds NaN"),
    "nul-character": (_edit(lambda d: d["blocks"][0].update(value="a\x00b")), "blocks[0].value: holds a NUL"),
    "long-tool-call-id": (
        _edit(lambda d: d["agents"][0]["messages"][4].update(tool_call_id="c" * 201)),
        "agents[0].messages[4].tool_call_id",
    ),
    "huge-block-limit": (_edit(lambda d: d["blocks"][0].update(limit=2**40)), "blocks[0].limit"),
    "unknown-agent-type": (_edit(lambda d: d["agents"][0].update(agent_type="workflow_agent")), "agents[0].agent_type"),
    "image-source-a-number": (
        _edit(lambda d: d["agents"][0]["messages"][2].update(content=[{"type": "image", "source": 5}])),
        "agents[0].messages[2].content[0].source: must be an object",
    ),
    "image-bad-base64": (
        _edit(
            lambda d: d["agents"][0]["messages"][2].update(
                content=[{"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "*"}}]
            )
        ),
        "agents[0].messages[2].content[0].source.data",
    ),
    # The server's provider key would go with every call to these (lib/providers.py).
    "unconfigured-api-base": (
        _edit(lambda d: d["agents"][0].update(engram={"model_settings": {"api_base": "https://collector.example/v1"}})),
        "agents[0].engram.model_settings.api_base: 'https://collector.example/v1' is not a model endpoint",
    ),
    "unconfigured-model-endpoint": (
        _edit(lambda d: d["agents"][0]["llm_config"].update(model_endpoint="http://collector.example:8283")),
        "agents[0].llm_config.model_endpoint: 'http://collector.example:8283' is not a model endpoint this server is "
        "configured for; the operator can allow it with ENGRAM_ALLOWED_API_BASES (or OPENAI_API_BASE); or choose the "
        "model at import (`model`)",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_a_bad_file_is_a_422_naming_the_field_and_writes_nothing(alice_api: APIClient, case: str) -> None:
    content, field = BAD_FILES[case]
    before = rows()
    response = upload(alice_api, content)
    assert response.status_code == 422, response.content
    assert field in response.json()["detail"], response.json()
    assert rows() == before


def test_an_oversize_file_is_refused_before_anything_is_written(alice_api: APIClient, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2048
    before = rows()
    response = upload(alice_api, FIXTURE.read_bytes())
    assert response.status_code == 413  # the upload handler stops the body before the file is read
    assert "exceeds the limit of 2048 bytes" in response.json()["detail"]
    assert rows() == before


def test_a_request_without_a_file_is_a_4xx(alice_api: APIClient) -> None:
    assert alice_api.post("/v1/agents/import", {}, format="multipart").status_code == 422
    assert alice_api.post("/v1/agents/import", {"agents": []}, format="json").status_code == 415


def test_an_outsider_cannot_export(charlie_api: APIClient, source_agent: Agent) -> None:
    for response in (
        charlie_api.get(f"/v1/agents/{public_id('agent', source_agent.id)}/export"),
        charlie_api.post(f"/v1/agents/{public_id('agent', source_agent.id)}/export", {}, format="json"),
    ):
        assert response.status_code == 404
        assert response.json()["detail"] == f"Agent {public_id('agent', source_agent.id)} not found"


@pytest.mark.django_db(transaction=True)
def test_imported_messages_and_passages_are_embedded_after_commit(
    alice: Any, source_agent: Agent, settings: Any
) -> None:
    settings.ENGRAM_EMBED_MESSAGES = True
    document = agent_export(agent=source_agent)
    document["agents"][0]["embedding"] = LOCAL_MINILM
    [copy] = agent_import(actor=alice, data=document)
    passage = Passage.objects.get(agent=copy)
    assert (passage.embedding_model, passage.embedding_dim) == (LOCAL_MINILM, 384)  # inline, right after commit
    deadline = time.monotonic() + 60
    while copy.messages.exclude(text="").filter(embedding_hash="").exists():
        assert time.monotonic() < deadline, "the imported messages were never embedded"
        time.sleep(0.05)


def test_a_repeated_user_otid_is_kept_once(alice_api: APIClient) -> None:
    def same_otid(d: dict[str, Any]) -> None:
        d["agents"][0]["messages"][1]["otid"] = "otid-1"
        d["agents"][0]["messages"][2]["otid"] = "otid-1"

    response = upload(alice_api, _edit(same_otid))
    assert response.status_code == 200, response.content
    agent = Agent.objects.get(pk=parse_id("agent", response.json()["agent_ids"][0]))
    assert list(agent.messages.filter(role="user").order_by("seq").values_list("otid", flat=True)) == ["otid-1", ""]
