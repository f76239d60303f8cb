"""The OpenAPI schema (api.schemas) and the wire dicts (api.wire) cannot drift: both are checked against the
TypedDicts in api.wire.types (mypy checks the builders; this checks the documented components and what is sent)."""

import json
import subprocess
import sys
from typing import Any

import pytest
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from api.wire import types
from tests.api.conftest import TOOL_SOURCE
from tests.sdk_runs import newest_python

# OpenAPI component (an api.schemas serializer) → the TypedDict of the dict the views send
COMPONENTS = {
    "BlockOutput": types.BlockResponseWire,
    "PassageSchema": types.PassageWire,
    "ArchiveSchema": types.ArchiveWire,
    "AgentStateSchema": types.AgentStateWire,
    "RunSchema": types.RunWire,
    "StepSchema": types.StepWire,
    "ContextWindowSchema": types.ContextWindowOverviewWire,
    "LettaMessageSchema": types.LettaMessageWire,
    "ToolSchema": types.ToolWire,
    "McpServerSchema": types.McpServerWire,
    "LLMConfigSchema": types.LLMConfigWire,
    "MemorySchema": types.MemoryWire,
    "IdentitySchema": types.IdentityWire,
    "RunMetricsSchema": types.RunMetricsWire,
    "StepMetricsSchema": types.StepMetricsWire,
    "ConversationSchema": types.ConversationWire,
    "FolderSchema": types.FolderWire,
    "FileMetadataSchema": types.FileWire,
    "AgentFileViewSchema": types.FileViewWire,
    "FileChunkSchema": types.ChunkWire,
}


@pytest.fixture(scope="module")
def components() -> dict[str, Any]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return dict(schema["components"]["schemas"])


@pytest.mark.parametrize("name", sorted(COMPONENTS))
def test_every_documented_field_is_a_key_the_wire_sends(components: dict[str, Any], name: str) -> None:
    assert name in components, f"{name} is no longer an OpenAPI component: update COMPONENTS"
    documented = set(components[name]["properties"])
    sent = set(COMPONENTS[name].__annotations__)
    assert documented <= sent, f"{name} documents fields the wire never sends: {sorted(documented - sent)}"
    assert set(components[name].get("required", [])) <= sent


@pytest.mark.django_db
def test_what_the_views_send_has_exactly_the_typed_keys(alice_api: APIClient, alice_world: dict[str, str]) -> None:
    w = alice_world
    agent, run, step, folder = w["agent_id"], w["run_id"], w["step_id"], w["folder_id"]
    state = alice_api.get(f"/v1/agents/{agent}").json()
    sent: list[tuple[Any, dict[str, Any]]] = [
        (types.AgentStateWire, state),
        (types.LLMConfigWire, state["llm_config"]),
        (types.MemoryWire, state["memory"]),
        (types.BlockResponseWire, alice_api.get(f"/v1/blocks/{w['block_id']}").json()),
        (types.RunWire, alice_api.get(f"/v1/runs/{run}").json()),
        (types.RunMetricsWire, alice_api.get(f"/v1/runs/{run}/metrics").json()),
        (types.StepWire, alice_api.get(f"/v1/steps/{step}").json()),
        (types.StepMetricsWire, alice_api.get(f"/v1/steps/{step}/metrics").json()),
        (types.ContextWindowOverviewWire, alice_api.get(f"/v1/agents/{agent}/context").json()),
        (types.PassageWire, alice_api.get(f"/v1/agents/{agent}/archival-memory").json()[0]),
        (types.ToolWire, alice_api.get(f"/v1/tools/{w['tool_id']}").json()),
        (types.IdentityWire, alice_api.get(f"/v1/identities/{w['identity_id']}").json()),
        (types.ConversationWire, alice_api.get(f"/v1/conversations/{w['conversation_id']}").json()),
        (types.McpServerWire, alice_api.get(f"/v1/mcp-servers/{w['mcp_server_id']}").json()),
        (types.FolderWire, alice_api.get(f"/v1/folders/{folder}").json()),
        (types.FileWire, alice_api.get(f"/v1/folders/{folder}/files/{w['file_id']}").json()),
        (types.FileViewWire, alice_api.get(f"/v1/agents/{agent}/files").json()["files"][0]),
        (types.ChunkWire, alice_api.get(f"/v1/folders/{folder}/passages").json()[0]),
    ]
    for typed, body in sent:
        keys, required = set(typed.__annotations__), typed.__required_keys__
        assert required <= set(body) <= keys, (typed.__name__, set(body) ^ keys)


# A Letta shape (the SDK's pydantic model) → its TypedDict: every field the SDK requires is sent.
SDK_SHAPES = {
    "letta_client.types.agent_state:AgentState": types.AgentStateWire,
    "letta_client.types.agent_state:LlmConfig": types.LLMConfigWire,
    "letta_client.types.agent_state:Memory": types.MemoryWire,
    "letta_client.types.agent_state:Tool": types.ToolWire,
    "letta_client.types.agent_state:Identity": types.IdentityWire,
    "letta_client.types.block_response:BlockResponse": types.BlockResponseWire,
    "letta_client.types.agents:Run": types.RunWire,
    "letta_client.types.step:Step": types.StepWire,
    "letta_client.types.archive:Archive": types.ArchiveWire,
    "letta_client.types.folder:Folder": types.FolderWire,
    "letta_client.types.conversation:Conversation": types.ConversationWire,
    "letta_client.types.agents.passage_create_response:Passage": types.PassageWire,
    "letta_client.types.agents.letta_streaming_response:LettaUsageStatistics": types.UsageStatisticsWire,
}


# Prints {shape: {"all": [...], "required": [...]}} for the SDK models named on stdin (by field alias).
_FIELDS = """
import importlib, json, sys
out = {}
for shape in json.load(sys.stdin):
    module, name = shape.split(":")
    model = getattr(importlib.import_module(module), name)
    fields = [(f.alias or k, f.is_required()) for k, f in model.model_fields.items()]
    out[shape] = {"all": [k for k, _ in fields], "required": [k for k, req in fields if req]}
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def sdk_fields() -> dict[str, dict[str, Any]]:
    """Each shape's fields in both SDK versions: required = required by either, all = known to either."""
    merged: dict[str, dict[str, Any]] = {}
    for python in (sys.executable, newest_python()):
        done = subprocess.run(
            [python, "-c", _FIELDS], input=json.dumps(sorted(SDK_SHAPES)), capture_output=True, text=True, check=True
        )
        for shape, fields in json.loads(done.stdout).items():
            seen = merged.setdefault(shape, {"all": set(), "required": set()})
            seen["all"] |= set(fields["all"])
            seen["required"] |= set(fields["required"])
    return merged


@pytest.mark.parametrize("shape", sorted(SDK_SHAPES))
def test_every_field_the_sdk_requires_is_sent_and_every_key_is_known(
    sdk_fields: dict[str, dict[str, Any]], shape: str
) -> None:
    sent = set(SDK_SHAPES[shape].__annotations__)
    required, known = sdk_fields[shape]["required"], sdk_fields[shape]["all"]
    assert required <= sent, f"{shape}: the SDK requires {sorted(required - sent)}"
    assert sent - known <= EXTRAS.get(shape, set()), f"{shape} sends keys no SDK knows: {sorted(sent - known)}"


# Keys Engram sends beyond the SDK models (the SDKs keep unknown keys), and why.
EXTRAS: dict[str, set[str]] = {
    # `hidden` is a create parameter (letta-code hides a subagent's conversations); it is read back as set.
    "letta_client.types.conversation:Conversation": {"hidden"},
    # Where the chunks live (Archive has the same key): "native", Engram's own tables.
    "letta_client.types.folder:Folder": {"vector_db_provider"},
    # Timestamps the ADE shows; the SDKs' BlockResponse does not declare them.
    "letta_client.types.block_response:BlockResponse": {"created_at", "updated_at"},
}


@pytest.mark.django_db
def test_every_message_sent_is_a_typed_letta_message(alice_api: APIClient, alice_world: dict[str, str]) -> None:
    keys, required = set(types.LettaMessageWire.__annotations__), types.LettaMessageWire.__required_keys__
    one = alice_api.get(f"/v1/messages/{alice_world['message_id']}").json()
    messages = one if isinstance(one, list) else [one]
    ran = alice_api.post("/v1/tools/run", {"source_code": TOOL_SOURCE, "args": {"text": "hi"}}, format="json").json()
    assert messages and ran["message_type"] == "tool_return_message"
    for message in [*messages, ran]:
        assert required <= set(message) <= keys, (message["message_type"], set(message) - keys)
