"""Letta wire shapes (what the letta-client SDKs parse) built from Engram rows, as plain JSON-ready dicts.

Used by the REST API and reusable by anything else that speaks Letta's format (the ADE, exports). Field names
follow letta-client's types exactly; the SDKs parse leniently, so an optional field may be None but never renamed.

One stored Message can become several LettaMessages: an assistant row with reasoning and N tool calls expands to
a reasoning_message, then an assistant_message for its text, then one tool_call_message per call. The pieces
share the row's id (`message-<uuid>`) and differ by `otid`.
"""

import uuid
from collections.abc import Iterable
from typing import cast

from agents.models import (
    Agent,
    AgentSecret,
    AgentType,
    Identity,
    StopReason,
    Tool,
)
from api.wire.blocks import JSON, block_to_wire, iso
from api.wire.embedding import embedding_config as embedding_config
from api.wire.files import folder_to_wire
from api.wire.types import AgentStateWire, IdentityWire, LLMConfigWire, MemoryWire, SecretWire, ToolWire
from lib import catalogue, providers
from lib.crypto import decrypt
from lib.ids import public_id, user_public_id
from memory.models import Block

DEFAULT_WIRE_AGENT_TYPE: dict[str, str] = {AgentType.V1: "letta_v1_agent", AgentType.MEMGPT: "memgpt_v2_agent"}


def agent_type_to_wire(agent: Agent) -> str:
    return agent.agent_type_alias or DEFAULT_WIRE_AGENT_TYPE.get(agent.agent_type, "letta_v1_agent")


def llm_config(agent: Agent) -> JSON:
    provider, name = catalogue.split_handle(agent.model)
    ms = agent.model_settings or {}
    out: LLMConfigWire = {
        "model": name,
        "model_endpoint_type": catalogue.endpoint_type(provider),
        # The provider's public URL, or null: an operator's internal base URL is not shown to members.
        "model_endpoint": providers.endpoint_public(agent.model, ms),
        "provider_name": provider,
        "provider_category": "base",
        "handle": agent.model,
        "display_name": name,
        "context_window": agent.context_window_limit,
        "max_tokens": ms.get("max_tokens") or ms.get("max_output_tokens"),
        "temperature": ms.get("temperature", 0.7),
        "parallel_tool_calls": ms.get("parallel_tool_calls", False),
        "put_inner_thoughts_in_kwargs": agent.agent_type == AgentType.MEMGPT,
        "enable_reasoner": bool(ms.get("enable_reasoner", False)),
        "reasoning_effort": ms.get("reasoning_effort"),
        "max_reasoning_tokens": ms.get("max_reasoning_tokens", 0),
        "model_wrapper": None,
        "frequency_penalty": None,
    }
    return cast(JSON, out)


def tool_to_wire(tool: Tool) -> JSON:
    out: ToolWire = {
        "id": public_id("tool", tool.id),
        "name": tool.name,
        "description": tool.description,
        "tool_type": tool.tool_type,
        "source_type": "python",
        "source_code": tool.source_code or None,
        "json_schema": tool.json_schema or None,
        "args_json_schema": None,
        "tags": list(tool.tags or []),
        "return_char_limit": tool.return_char_limit,
        "metadata_": tool.metadata or {},
        "pip_requirements": None,
        "npm_requirements": None,
        "default_requires_approval": None,
        "enable_parallel_execution": False,
        "project_id": None,
        "created_by_id": user_public_id(tool.created_by_id),
        "last_updated_by_id": None,
    }
    return cast(JSON, out)


def secret_to_wire(row: AgentSecret) -> JSON:
    """AgentEnvironmentVariable. The value is shown to the organization's members, who could read it from a tool
    anyway; it is encrypted at rest."""
    out: SecretWire = {
        "id": public_id("agent-env", row.id),
        "agent_id": public_id("agent", row.agent_id),
        "key": row.key,
        "value": decrypt(row.value_encrypted),
        "description": None,
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
    }
    return cast(JSON, out)


def identity_to_wire(identity: Identity) -> JSON:
    """Identity; reads `agent_links` and `block_links` (prefetch them in lists)."""
    agent_links = sorted(identity.agent_links.all(), key=lambda link: (link.created_at, link.pk))
    block_links = sorted(identity.block_links.all(), key=lambda link: (link.created_at, link.pk))
    out: IdentityWire = {
        "id": public_id("identity", identity.id),
        "identifier_key": identity.identifier_key,
        "name": identity.name,
        "identity_type": identity.identity_type,
        "project_id": None,
        "agent_ids": [public_id("agent", link.agent_id) for link in agent_links],
        "block_ids": [public_id("block", link.block_id) for link in block_links],
        "properties": list(identity.properties or []),
    }
    return cast(JSON, out)


def agent_state(
    agent: Agent,
    *,
    blocks: Iterable[Block] | None = None,
    tools: Iterable[Tool] | None = None,
    tags: Iterable[str] | None = None,
    message_ids: Iterable[uuid.UUID] | None = None,
    pending_approval: JSON | None = None,
) -> JSON:
    """AgentState. Relations not given are read from the agent (prefetch `blocks`, `tools`, `tag_rows`,
    `secret_rows` and `identities` with their links in lists). `pending_approval`: the approval_request_message
    of tool calls waiting for an answer, if the caller looked it up."""
    block_rows = list(blocks) if blocks is not None else list(agent.blocks.all())
    tool_rows = list(tools) if tools is not None else list(agent.tools.all())
    tag_list = sorted(tags) if tags is not None else sorted(t.tag for t in agent.tag_rows.all())
    wire_blocks = [block_to_wire(b) for b in block_rows]
    wire_type = agent_type_to_wire(agent)
    secrets = [secret_to_wire(row) for row in sorted(agent.secret_rows.all(), key=lambda row: row.key)]
    memory = memory_to_wire(agent, wire_blocks)
    identities = [identity_to_wire(i) for i in agent.identities.all()]
    sources = [folder_to_wire(link.folder) for link in agent.folder_links.all()]
    out: AgentStateWire = {
        "id": public_id("agent", agent.id),
        "name": agent.name,
        "description": agent.description or None,
        "agent_type": wire_type,
        "system": agent.system,
        "model": agent.model,
        "embedding": agent.embedding or None,
        "llm_config": llm_config(agent),
        "embedding_config": embedding_config(agent.embedding),
        "model_settings": None,
        "compaction_settings": None,
        "response_format": None,
        "blocks": wire_blocks,
        "memory": memory,
        "tools": [tool_to_wire(t) for t in tool_rows],
        "sources": sources,
        "tags": tag_list,
        "tool_rules": list(agent.tool_rules or []),
        "message_ids": [public_id("message", m) for m in message_ids] if message_ids is not None else None,
        "identities": identities,
        "identity_ids": [i["id"] for i in identities],
        "secrets": secrets,
        "tool_exec_environment_variables": secrets,
        "metadata": agent.metadata or {},
        "timezone": agent.timezone,
        "enable_sleeptime": False,
        "multi_agent_group": None,
        "managed_group": None,
        "pending_approval": pending_approval,
        "last_run_completion": iso(agent.last_run_completion),
        "last_run_duration_ms": agent.last_run_duration_ms,
        "last_stop_reason": StopReason.to_wire(agent.last_stop_reason),
        "max_files_open": None,
        "per_file_view_window_char_limit": None,
        "message_buffer_autoclear": False,
        "hidden": None,
        "project_id": None,
        "template_id": None,
        "base_template_id": None,
        "deployment_id": None,
        "entity_id": None,
        "created_at": iso(agent.created_at),
        "updated_at": iso(agent.updated_at),
        "created_by_id": user_public_id(agent.created_by_id),
        "last_updated_by_id": None,
    }
    return cast(JSON, out)


def memory_to_wire(agent: Agent, wire_blocks: list[JSON]) -> JSON:
    """The deprecated Memory object (AgentState.memory, GET /agents/{id}/core-memory)."""
    out: MemoryWire = {
        "agent_type": agent_type_to_wire(agent),
        "blocks": wire_blocks,
        "file_blocks": [],
        "git_enabled": False,
        "prompt_template": "",
    }
    return cast(JSON, out)
