"""Writing an agent file: an agent with its blocks, tools, messages, conversations, archival passages and attached
shared archives (with their passages) as one JSON document."""

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from agents.models import Agent, Message, MessageRole
from api import wire
from api.agent_files.common import ENGRAM_FORMAT, JSON
from api.agent_files.folders import folders_export
from api.agent_files.mcp import servers_to_file
from api.wire import iso
from lib.ids import local_id
from memory.models import Archive, Passage


def _passages_to_file(passages: list[Passage]) -> list[JSON]:
    return [
        {
            "id": local_id("passage", i),
            "text": p.text,
            "tags": list(p.tags or []),
            "metadata": p.metadata or {},
            "created_at": iso(p.created_at),
        }
        for i, p in enumerate(passages)
    ]


def _archives_to_file(archives: list[Archive]) -> list[JSON]:
    return [
        {
            "id": local_id("archive", i),
            "name": a.name,
            "description": a.description or None,
            "metadata": a.metadata or {},
            "embedding": a.embedding or None,
            "passages": _passages_to_file(list(a.passages.order_by("created_at", "id"))),
        }
        for i, a in enumerate(archives)
    ]


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


def _conversations_to_file(agent: Agent, history: "QuerySet[Message]", *, first: int, messages: bool) -> list[JSON]:
    """The agent's conversations, each with its own messages and window (message ids go on from `first`, so they
    are unique in the file)."""
    out = []
    number = first
    rows = list(history.filter(conversation__isnull=False)) if messages else []
    for i, conversation in enumerate(agent.conversations.order_by("created_at", "id")):
        theirs = [m for m in rows if m.conversation_id == conversation.pk]
        ids = {m.id: local_id("message", number + k) for k, m in enumerate(theirs)}
        number += len(theirs)
        out.append(
            {
                "id": local_id("conv", i),
                "summary": conversation.summary,
                "description": conversation.description,
                "hidden": conversation.hidden,
                "archived": conversation.archived_at is not None,
                "model": conversation.model or None,
                "model_settings": conversation.model_settings or {},
                "context_window_limit": conversation.context_window_limit,
                "context_summary": conversation.context_summary,
                "created_at": iso(conversation.created_at),
                "last_message_at": iso(conversation.last_message_at),
                "in_context_message_ids": [ids[m.id] for m in theirs if m.in_context],
                "messages": [_message_to_file(m, file_id=ids[m.id]) for m in theirs],
            }
        )
    return out


def agent_export(*, agent: Agent, include_messages: bool = True) -> JSON:
    """The agent file of one agent (reached through a selector by the caller: this does no tenancy check).
    `include_messages=False` leaves the history out (Letta's `scrub_messages`); blocks, tools and archival
    passages are always included. Messages still waiting in a queued run (no seq yet) are not part of it."""
    blocks = list(agent.blocks.order_by("agentblock__created_at", "agentblock__id"))
    tools = list(agent.tools.select_related("mcp_server").order_by("name", "id"))
    history = agent.messages.filter(seq__isnull=False).order_by("seq")
    messages = list(history.filter(conversation__isnull=True)) if include_messages else []
    passages = list(Passage.objects.filter(agent=agent).order_by("created_at", "id"))
    archives = list(Archive.objects.filter(attachments__agent=agent).order_by("attachments__created_at", "id"))
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
    server_entries, server_ids = servers_to_file(tools)
    tool_entries = [
        {**wire.tool_to_wire(t), "id": local_id("tool", i), "created_by_id": None, "last_updated_by_id": None}
        | ({"engram": {"mcp_server_id": server_ids[t.mcp_server_id]}} if t.mcp_server_id in server_ids else {})
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
            "conversations": _conversations_to_file(agent, history, first=len(messages), messages=include_messages),
            "archival_passages": _passages_to_file(passages),
            "archive_ids": [local_id("archive", i) for i in range(len(archives))],
        },
    }
    return {
        "agents": [entry],
        "groups": [],
        "blocks": block_entries,
        "files": files,
        "sources": sources,
        "tools": tool_entries,
        "mcp_servers": server_entries,
        "skills": [],
        "metadata": {
            "exported_by": "engram",
            "engram_version": settings.ENGRAM_VERSION,
            "engram_format": ENGRAM_FORMAT,
        },
        "created_at": timezone.now().isoformat(),
        "engram": {"archives": _archives_to_file(archives)},
    }


def agent_file_name(agent: Agent) -> str:
    """A safe download name: the agent's name reduced to letters, digits, '-' and '_'."""
    stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in agent.name).strip("_") or "agent"
    return f"{stem[:80]}.af"
