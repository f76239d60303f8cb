"""Writing an agent file: an agent with its blocks, tools, messages and archival passages as one JSON document."""

from django.conf import settings
from django.utils import timezone

from agents.models import Agent, Message, MessageRole
from api import wire
from api.agent_files.common import ENGRAM_FORMAT, JSON
from api.agent_files.folders import folders_export
from api.wire import iso
from lib.ids import local_id
from memory.models import Passage


def _message_to_file(message: Message, *, file_id: str) -> JSON:
    content = message.content
    if isinstance(content, str):
        content = [{"type": "text", "text": content}] if content else []
    parts = [p for p in (content if isinstance(content, list) else []) if isinstance(p, dict)]
    content_text = "".join(str(p.get("text", "")) for p in parts if p.get("type", "text") == "text")
    if message.role == MessageRole.ASSISTANT and message.reasoning and message.reasoning != content_text:
        parts = [{"type": "reasoning", "reasoning": message.reasoning, "is_native": True, "signature": None}, *parts]
    tool_returns = []
    if message.role == MessageRole.TOOL:
        tool_returns = [
            {
                "tool_call_id": message.tool_call_id,
                "status": "error" if message.is_err else "success",
                "func_response": message.text,
                "stdout": None,
                "stderr": None,
            }
        ]
    return {
        "type": "message",
        "id": file_id,
        "agent_id": "agent-0",
        "role": message.role,
        "content": parts,
        "name": message.name or None,
        "otid": message.otid or None,
        "sender_id": message.sender_id or None,
        "tool_calls": list(message.tool_calls) or None,
        "tool_call_id": message.tool_call_id or None,
        "tool_returns": tool_returns,
        "model": None,
        "created_at": iso(message.created_at),
        "engram": {"text": message.text, "reasoning": message.reasoning, "is_err": message.is_err},
    }


def agent_export(*, agent: Agent, include_messages: bool = True) -> JSON:
    """The agent file of one agent (reached through a selector by the caller: this does no tenancy check).
    `include_messages=False` leaves the history out (Letta's `scrub_messages`); blocks, tools and archival
    passages are always included. Messages still waiting in a queued run (no seq yet) are not part of it."""
    blocks = list(agent.blocks.order_by("agentblock__created_at", "agentblock__id"))
    tools = list(agent.tools.order_by("name", "id"))
    messages = list(agent.messages.filter(seq__isnull=False).order_by("seq")) if include_messages else []
    passages = list(Passage.objects.filter(agent=agent).order_by("created_at", "id"))
    message_ids = {m.id: local_id("message", i) for i, m in enumerate(messages)}
    block_entries = [
        {
            **{k: v for k, v in wire.block_to_wire(b).items() if k not in ("created_at", "updated_at")},
            "id": local_id("block", i),
            "created_by_id": None,
            "last_updated_by_id": None,
        }
        for i, b in enumerate(blocks)
    ]
    tool_entries = [
        {**wire.tool_to_wire(t), "id": local_id("tool", i), "created_by_id": None, "last_updated_by_id": None}
        for i, t in enumerate(tools)
    ]
    state = wire.agent_state(agent, blocks=blocks, tools=tools, message_ids=[])
    sources, files, [(source_ids, files_agents)] = folders_export([agent])
    entry = {
        "id": "agent-0",
        "name": agent.name,
        "description": agent.description or None,
        "agent_type": state["agent_type"],
        "system": agent.system,
        "model": agent.model,
        "embedding": agent.embedding or None,
        "llm_config": state["llm_config"],
        "embedding_config": state["embedding_config"],
        "model_settings": None,
        "compaction_settings": None,
        "context_window_limit": agent.context_window_limit,
        "tool_rules": list(agent.tool_rules or []),
        "tags": state["tags"],
        "metadata": agent.metadata or None,
        "timezone": agent.timezone,
        "block_ids": [e["id"] for e in block_entries],
        "tool_ids": [e["id"] for e in tool_entries],
        "source_ids": source_ids,
        "folder_ids": None,
        "identity_ids": None,
        "group_ids": [],
        "files_agents": files_agents,
        "memory_blocks": [],
        "tools": [],
        "include_base_tools": False,
        "include_multi_agent_tools": False,
        "include_base_tool_rules": False,
        "include_default_source": False,
        "initial_message_sequence": None,
        "tool_exec_environment_variables": {},
        "secrets": None,
        "message_buffer_autoclear": False,
        "enable_sleeptime": False,
        "in_context_message_ids": [message_ids[m.id] for m in messages if m.in_context],
        "messages": [_message_to_file(m, file_id=message_ids[m.id]) for m in messages],
        "engram": {
            "agent_type": agent.agent_type,
            "model_settings": agent.model_settings or {},
            "compaction_settings": agent.compaction_settings or {},
            "summary": agent.summary,
            "archival_passages": [
                {
                    "id": local_id("passage", i),
                    "text": p.text,
                    "tags": list(p.tags or []),
                    "metadata": p.metadata or {},
                    "created_at": iso(p.created_at),
                }
                for i, p in enumerate(passages)
            ],
        },
    }
    return {
        "agents": [entry],
        "groups": [],
        "blocks": block_entries,
        "files": files,
        "sources": sources,
        "tools": tool_entries,
        "mcp_servers": [],
        "skills": [],
        "metadata": {
            "exported_by": "engram",
            "engram_version": settings.ENGRAM_VERSION,
            "engram_format": ENGRAM_FORMAT,
        },
        "created_at": timezone.now().isoformat(),
    }


def agent_file_name(agent: Agent) -> str:
    """A safe download name: the agent's name reduced to letters, digits, '-' and '_'."""
    stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in agent.name).strip("_") or "agent"
    return f"{stem[:80]}.af"
