"""Importing a parsed agent file as new agents of the importer's organization, all or nothing (one transaction)."""

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction

from accounts.selectors import organization_id_for
from agents.model_settings import context_window_from_letta, embedding_handle_from_letta, model_handle_from_letta
from agents.models import Agent, AgentType, Conversation, Tool
from agents.services.agents import agent_create
from agents.services.conversations import conversation_create
from agents.services.messages import message_create_many
from api.agent_files.common import COPY_SUFFIX, JSON, MAX_AGENTS, MAX_BLOCKS, MAX_NAME_CHARS, MAX_TOOLS
from api.agent_files.folders import agent_folders_import, folders_import
from api.agent_files.mcp import MCP_TOOL_TYPE, mcp_tool_from_file, servers_from_file
from api.agent_files.parse import (
    ImportOptions,
    _archives_from_file,
    _at,
    _block_from_file,
    _fail,
    _handle,
    _list,
    _local_id,
    _messages_from_file,
    _model_settings,
    _obj,
    _passages_from_file,
    _str,
    _tool_from_file,
)
from memory.models import Archive, Block
from memory.services.archives import archive_attach, archive_create
from memory.services.passages import MAX_BATCH_ITEMS, PassageInput, passage_insert_many


def _passages_insert(
    *, items: list[PassageInput], path: str, actor: User, agent: Agent | None = None, archive: Archive | None = None
) -> None:
    for start in range(0, len(items), MAX_BATCH_ITEMS):
        with _at(path):
            batch = items[start : start + MAX_BATCH_ITEMS]
            passage_insert_many(agent=agent, archive=archive, items=batch, created_by_id=actor.pk)


MAX_CONVERSATIONS = 1_000
# What a file's conversation may set (conversation_create checks each, naming the field).
CONVERSATION_FIELDS = ("summary", "description", "hidden", "model", "model_settings", "context_window_limit")


def _agent_name(entry: JSON, path: str, options: ImportOptions, *, single: bool) -> str | None:
    name = options.name if options.name and single else _str(entry.get("name"), f"{path}.name")
    if name and options.append_copy_suffix:
        name = f"{name[: MAX_NAME_CHARS - len(COPY_SUFFIX)]}{COPY_SUFFIX}"
    return name


def _conversations_load(
    actor: User, agent: Agent, ext: JSON, path: str, *, options: ImportOptions, memgpt: bool
) -> None:
    """The agent's conversations (Engram's), each with its messages, window and running summary."""
    for i, raw in enumerate(_list(ext.get("conversations"), f"{path}.conversations", maximum=MAX_CONVERSATIONS)):
        where = f"{path}.conversations[{i}]"
        entry = _obj(raw, where)
        fields = {k: entry[k] for k in CONVERSATION_FIELDS if entry.get(k) is not None}
        with _at(where):
            conversation = conversation_create(actor=actor, agent=agent, **fields)
        context_summary = _str(entry.get("context_summary"), f"{where}.context_summary")
        if context_summary:
            Conversation.objects.filter(pk=conversation.pk).update(context_summary=context_summary)
        if not options.strip_messages:
            specs = _messages_from_file(entry, where, memgpt=memgpt, from_engram=True)
            message_create_many(agent=agent, specs=specs, publish=False, conversation_id=conversation.pk)


@transaction.atomic
def agent_import(*, actor: User, data: JSON, options: ImportOptions | None = None) -> list[Agent]:
    """Create the file's agents (with their blocks, tools, messages and passages) in the actor's organization,
    all with fresh ids; every reference inside the file is mapped to the new rows. A custom tool whose name the
    organization already uses is reused as it is, or overwritten with `override_existing_tools`. All or nothing:
    any error rolls everything back. Messages and passages are embedded after commit, as new ones are."""
    options = options or ImportOptions()
    org_id = organization_id_for(actor)
    if not isinstance(data, dict):
        raise _fail("file", "must hold a JSON object with an 'agents' list")
    if "agents" not in data and ("core_memory" in data or "agent_type" in data):
        raise _fail(
            "agents", "missing: this looks like a legacy single-agent file; export it again from a current server"
        )
    agents = _list(data.get("agents"), "agents", maximum=MAX_AGENTS, required=True)
    if not agents:
        raise _fail("agents", "must hold at least one agent")
    metadata = data.get("metadata")
    from_engram = isinstance(metadata, dict) and metadata.get("exported_by") == "engram"

    # Blocks and tools first: agents refer to them by their file ids.
    block_entries = _list(data.get("blocks"), "blocks", maximum=MAX_BLOCKS)
    tool_entries = _list(data.get("tools"), "tools", maximum=MAX_TOOLS)
    blocks: dict[str, Block] = {}
    for i, raw in enumerate(block_entries):
        entry = _obj(raw, f"blocks[{i}]")
        local = _local_id(entry.get("id"), f"blocks[{i}].id")
        if local in blocks:
            raise _fail(f"blocks[{i}].id", f"duplicate block id {local!r}")
        blocks[local] = _block_from_file(actor=actor, entry=entry, path=f"blocks[{i}]")
    servers = servers_from_file(actor=actor, organization_id=org_id, data=data, given=options.mcp_credentials)
    tools: dict[str, Tool] = {}
    for i, raw in enumerate(tool_entries):
        entry = _obj(raw, f"tools[{i}]")
        local = _local_id(entry.get("id"), f"tools[{i}].id")
        if local in tools:
            raise _fail(f"tools[{i}].id", f"duplicate tool id {local!r}")
        if entry.get("tool_type") == MCP_TOOL_TYPE:
            tools[local] = mcp_tool_from_file(entry=entry, path=f"tools[{i}]", servers=servers)
            continue
        tools[local] = _tool_from_file(
            actor=actor, org_id=org_id, entry=entry, path=f"tools[{i}]", override=options.override_existing_tools
        )

    # Shared archives (Engram's own key): new archives of the organization, attached to the agents that name them.
    archives: dict[str, Archive] = {}
    for local, archive_entry in _archives_from_file(data).items():
        path = f"engram.archives[{len(archives)}]"
        with _at(path):
            archives[local] = archive_create(
                actor=actor,
                name=archive_entry.name,
                description=archive_entry.description,
                embedding=archive_entry.embedding,
                metadata=archive_entry.metadata,
            )
        _passages_insert(items=archive_entry.passages, path=f"{path}.passages", actor=actor, archive=archives[local])

    folders, files = folders_import(organization_id=org_id, created_by_id=actor.pk, data=data)
    created: list[Agent] = []
    for index, raw in enumerate(agents):
        path = f"agents[{index}]"
        entry = _obj(raw, path)
        ext = _obj(entry.get("engram") or {}, f"{path}.engram")
        block_ids = []
        for i, ref in enumerate(_list(entry.get("block_ids"), f"{path}.block_ids", maximum=MAX_BLOCKS)):
            if ref not in blocks:
                raise _fail(f"{path}.block_ids[{i}]", f"unknown block id {ref!r} (not in the file's blocks)")
            block_ids.append(blocks[ref].pk)
        tool_ids = []
        for i, ref in enumerate(_list(entry.get("tool_ids"), f"{path}.tool_ids", maximum=MAX_TOOLS)):
            if ref not in tools:
                raise _fail(f"{path}.tool_ids[{i}]", f"unknown tool id {ref!r} (not in the file's tools)")
            tool_ids.append(tools[ref].pk)
        compaction = ext.get("compaction_settings", entry.get("compaction_settings"))
        carried = entry.get("secrets") or entry.get("tool_exec_environment_variables") or {}
        if not isinstance(carried, dict):
            raise _fail(f"{path}.secrets", "must be an object of environment variable names to values")
        file_model = None if options.model else model_handle_from_letta(entry, prefix=path)
        with _at(path):
            agent = agent_create(
                actor=actor,
                name=_agent_name(entry, path, options, single=len(agents) == 1),
                agent_type=_str(entry.get("agent_type"), f"{path}.agent_type"),
                system=_str(entry.get("system"), f"{path}.system"),
                description=_str(entry.get("description"), f"{path}.description"),
                model=_handle(options.model or file_model, f"{path}.model"),
                embedding=_handle(
                    options.embedding or embedding_handle_from_letta(entry, prefix=path), f"{path}.embedding"
                ),
                block_ids=block_ids,
                tool_ids=tool_ids,
                include_base_tools=False,
                tags=entry.get("tags"),
                metadata=entry.get("metadata"),
                context_window_limit=context_window_from_letta(entry, prefix=path),
                model_settings=_model_settings(
                    entry, ext, path, model=None if options.model else (file_model or settings.ENGRAM_DEFAULT_MODEL)
                ),
                compaction_settings=compaction or None,
                tool_rules=entry.get("tool_rules"),
                timezone=_str(entry.get("timezone"), f"{path}.timezone"),
                secrets={**carried, **(options.secrets or {})},
            )
        agent_folders_import(agent=agent, entry=entry, path=path, folders=folders, files=files)
        summary = _str(ext.get("summary"), f"{path}.engram.summary")
        if summary:
            Agent.objects.filter(pk=agent.pk).update(summary=summary)
        memgpt = agent.agent_type == AgentType.MEMGPT
        if not options.strip_messages:
            specs = _messages_from_file(entry, path, memgpt=memgpt, from_engram=from_engram)
            message_create_many(agent=agent, specs=specs, publish=False)
        _conversations_load(actor, agent, ext, f"{path}.engram", options=options, memgpt=memgpt)
        items = _passages_from_file(ext, f"{path}.engram")
        _passages_insert(items=items, path=f"{path}.engram.archival_passages", actor=actor, agent=agent)
        for i, ref in enumerate(_list(ext.get("archive_ids"), f"{path}.engram.archive_ids", maximum=len(archives))):
            if ref not in archives:
                raise _fail(f"{path}.engram.archive_ids[{i}]", f"unknown archive id {ref!r} (not in engram.archives)")
            archive_attach(archive=archives[ref], agent=agent)
        created.append(agent)
    return created
