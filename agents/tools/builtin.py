"""Built-in tools: JSON schemas (names and parameters follow Letta's, so prompts written for Letta work)
and their implementations on top of the memory services."""

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone

from agents.models import Tool
from agents.tools.base import JSON as JSON
from agents.tools.base import ToolContext as ToolContext
from agents.tools.base import ToolError as ToolError
from agents.tools.base import schema as _schema
from agents.tools.files import FILE_IMPLEMENTATIONS, FILE_SCHEMAS, FILE_TOOLS
from memory.models import Block
from memory.services.blocks import block_update

_LABEL = {"type": "string", "description": "Section of the memory to be edited, identified by its label."}

BUILTIN_SCHEMAS: dict[str, JSON] = {
    "send_message": _schema(
        "send_message",
        "Sends a message to the human user.",
        {
            "message": {
                "type": "string",
                "description": "Message contents. All unicode (including emojis) are supported.",
            }
        },
        ["message"],
    ),
    "memory_insert": _schema(
        "memory_insert",
        "The memory_insert command allows you to insert text at a specific location in a memory block.",
        {
            "label": _LABEL,
            "new_str": {"type": "string", "description": "The text to insert. Do not include line numbers."},
            "insert_line": {
                "type": "integer",
                "description": "The line number after which to insert the text (0 for the beginning). "
                "Defaults to -1 (the end of the block).",
            },
        },
        ["label", "new_str"],
    ),
    "memory_replace": _schema(
        "memory_replace",
        "The memory_replace command allows you to replace a specific string in a memory block with a new string. "
        "This is used for making precise edits. Do not include line numbers.",
        {
            "label": _LABEL,
            "old_str": {"type": "string", "description": "The text to replace (must match exactly, once)."},
            "new_str": {"type": "string", "description": "The new text to insert in place of the old text."},
        },
        ["label", "old_str", "new_str"],
    ),
    "memory_rethink": _schema(
        "memory_rethink",
        "The memory_rethink command allows you to completely rewrite the contents of a memory block. Use it to "
        "make large sweeping changes, reorganize, or condense a block.",
        {
            "label": {"type": "string", "description": "The memory block to be rewritten, identified by its label."},
            "new_memory": {"type": "string", "description": "The new memory contents."},
        },
        ["label", "new_memory"],
    ),
    "core_memory_append": _schema(
        "core_memory_append",
        "Append to the contents of core memory.",
        {
            "label": _LABEL,
            "content": {"type": "string", "description": "Content to write to the memory."},
        },
        ["label", "content"],
    ),
    "core_memory_replace": _schema(
        "core_memory_replace",
        "Replace the contents of core memory. To delete memories, use an empty string for new_content.",
        {
            "label": _LABEL,
            "old_content": {"type": "string", "description": "String to replace. Must be an exact match."},
            "new_content": {"type": "string", "description": "Content to write to the memory."},
        },
        ["label", "old_content", "new_content"],
    ),
    "conversation_search": _schema(
        "conversation_search",
        "Search prior conversation history (recall memory), including messages no longer in your context window.",
        {
            "query": {"type": "string", "description": "String to search for."},
            "roles": {
                "type": "array",
                "items": {"type": "string", "enum": ["assistant", "user", "tool"]},
                "description": "Only return messages with these roles.",
            },
            "limit": {"type": "integer", "description": "Maximum number of results (default 10)."},
            "start_date": {"type": "string", "description": "Only messages on or after this date (YYYY-MM-DD)."},
            "end_date": {"type": "string", "description": "Only messages on or before this date (YYYY-MM-DD)."},
        },
        ["query"],
    ),
    "archival_memory_insert": _schema(
        "archival_memory_insert",
        "Add information to long-term archival memory for later search.",
        {
            "content": {"type": "string", "description": "Content to write to the memory."},
            "tags": {"type": "array", "items": {"type": "string"}, "description": "Optional tags."},
        },
        ["content"],
    ),
    "archival_memory_search": _schema(
        "archival_memory_search",
        "Search archival memory using semantic (embedding-based) and keyword search.",
        {
            "query": {"type": "string", "description": "String to search for."},
            "tags": {"type": "array", "items": {"type": "string"}, "description": "Only passages with these tags."},
            "tag_match_mode": {
                "type": "string",
                "enum": ["any", "all"],
                "description": "Match any or all of the tags (default any).",
            },
            "top_k": {"type": "integer", "description": "Maximum number of results (default 10)."},
            "start_datetime": {"type": "string", "description": "Only passages created at or after (ISO 8601)."},
            "end_datetime": {"type": "string", "description": "Only passages created at or before (ISO 8601)."},
        },
        ["query"],
    ),
    **FILE_SCHEMAS,
}

MEMORY_TOOLS = {"memory_insert", "memory_replace", "memory_rethink", "core_memory_append", "core_memory_replace"}
BASE_TOOLS_V1 = ["conversation_search", "memory_insert", "memory_replace"]
BASE_TOOLS_MEMGPT = ["send_message", "core_memory_append", "core_memory_replace", "conversation_search"]


def builtin_tool_type(name: str) -> str:
    if name in FILE_TOOLS:
        return Tool.ToolType.FILES
    return Tool.ToolType.MEMORY if name in MEMORY_TOOLS else Tool.ToolType.BUILTIN


# -- implementations -------------------------------------------------------------------------------


def _block(ctx: ToolContext, label: Any) -> Block:
    if not isinstance(label, str):
        raise ToolError("label must be a string")
    # Locked now, before the tool reads its value: a write computed from the value (insert, replace, append) must
    # not be based on a copy another writer (a conversation of the agent running at the same time, another agent
    # sharing the block) changes before block_update locks the row; that write would be lost.
    block = ctx.agent.blocks.select_for_update(of=("self",)).filter(label=label).first()
    if block is None:
        labels = ", ".join(sorted(ctx.agent.blocks.values_list("label", flat=True))) or "none"
        raise ToolError(f"No memory block labelled '{label}' (blocks: {labels})")
    return block


def _write(ctx: ToolContext, block: Block, value: str) -> str:
    try:
        block_update(block=block, agent_id=ctx.agent.id, step_id=ctx.step_id, source="tool", value=value)
    except ValidationError as exc:
        raise ToolError("; ".join(exc.messages)) from None
    return f"The memory block '{block.label}' has been updated."


def _str(args: JSON, key: str, *, required: bool = True, default: str = "") -> str:
    if key not in args:
        if required:
            raise ToolError(f"missing required argument '{key}'")
        return default
    value = args[key]
    if not isinstance(value, str):
        raise ToolError(f"argument '{key}' must be a string")
    return value


def _int(args: JSON, key: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
    value = args.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise ToolError(f"argument '{key}' must be an integer")
    if minimum is not None and value < minimum or maximum is not None and value > maximum:
        raise ToolError(f"argument '{key}' must be between {minimum} and {maximum}")
    return value


def _str_list(args: JSON, key: str) -> list[str] | None:
    value = args.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ToolError(f"argument '{key}' must be a list of strings")
    return value


def _datetime(args: JSON, key: str, *, end_of_day: bool = False) -> dt.datetime | None:
    raw = args.get(key)
    if raw in (None, ""):
        return None
    if not isinstance(raw, str):
        raise ToolError(f"argument '{key}' must be an ISO 8601 date or datetime string")
    try:
        if len(raw) == 10:
            day = dt.date.fromisoformat(raw)
            value = dt.datetime.combine(day, dt.time.max if end_of_day else dt.time.min)
        else:
            value = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ToolError(f"argument '{key}' is not a valid date: {raw!r}") from None
    if timezone.is_naive(value):
        value = timezone.make_aware(value, dt.UTC)
    return value


def memory_insert(ctx: ToolContext, args: JSON) -> str:
    block = _block(ctx, args.get("label"))
    new_str = _str(args, "new_str")
    lines = block.value.split("\n") if block.value else []
    line = _int(args, "insert_line", -1)
    if line == -1:
        line = len(lines)
    if not 0 <= line <= len(lines):
        raise ToolError(f"insert_line {line} is out of range: the block has {len(lines)} lines")
    value = "\n".join([*lines[:line], *new_str.split("\n"), *lines[line:]])
    return _write(ctx, block, value)


def memory_replace(ctx: ToolContext, args: JSON) -> str:
    block = _block(ctx, args.get("label"))
    old, new = _str(args, "old_str"), _str(args, "new_str")
    if not old:
        raise ToolError("old_str must not be empty")
    count = block.value.count(old)
    if count == 0:
        raise ToolError(f"old_str {old!r} does not appear in the block '{block.label}'")
    if count > 1:
        raise ToolError(f"old_str {old!r} appears {count} times in '{block.label}'; make it unique")
    return _write(ctx, block, block.value.replace(old, new))


def memory_rethink(ctx: ToolContext, args: JSON) -> str:
    return _write(ctx, _block(ctx, args.get("label")), _str(args, "new_memory"))


def core_memory_append(ctx: ToolContext, args: JSON) -> str:
    block = _block(ctx, args.get("label"))
    content = _str(args, "content")
    return _write(ctx, block, f"{block.value}\n{content}" if block.value else content)


def core_memory_replace(ctx: ToolContext, args: JSON) -> str:
    block = _block(ctx, args.get("label"))
    old, new = _str(args, "old_content"), _str(args, "new_content")
    if not old or old not in block.value:
        raise ToolError(f"old_content {old!r} not found in the block '{block.label}'")
    return _write(ctx, block, block.value.replace(old, new))


def conversation_search(ctx: ToolContext, args: JSON) -> str:
    from agents.runtime.recall import message_search

    query = _str(args, "query")
    roles = _str_list(args, "roles")
    limit = _int(args, "limit", 10, minimum=1, maximum=100)
    try:
        hits = message_search(
            agent=ctx.agent,
            query=query,
            roles=roles,
            start=_datetime(args, "start_date"),
            end=_datetime(args, "end_date", end_of_day=True),
            limit=limit,
        )
    except ValidationError as exc:
        raise ToolError("; ".join(exc.messages)) from None
    results = [
        {
            "timestamp": hit.message.created_at.isoformat(),
            "role": hit.message.role,
            "content": hit.message.text,
        }
        for hit in hits
    ]
    if not results:
        return f"No results found for {query!r}."
    return json.dumps({"count": len(results), "results": results}, ensure_ascii=False)


def archival_memory_insert(ctx: ToolContext, args: JSON) -> str:
    from memory.services.passages import passage_insert

    try:
        passage_insert(agent=ctx.agent, text=_str(args, "content"), tags=_str_list(args, "tags"))
    except ValidationError as exc:
        raise ToolError("; ".join(exc.messages)) from None
    return "The passage has been added to archival memory."


def archival_memory_search(ctx: ToolContext, args: JSON) -> str:
    from memory.search import passage_search

    mode = args.get("tag_match_mode", "any") or "any"
    if mode not in ("any", "all"):
        raise ToolError("tag_match_mode must be 'any' or 'all'")
    try:
        hits = passage_search(
            agent=ctx.agent,
            query=_str(args, "query"),
            tags=_str_list(args, "tags"),
            tag_match_mode="all" if mode == "all" else "any",
            top_k=_int(args, "top_k", 10, minimum=1, maximum=200),
            start=_datetime(args, "start_datetime"),
            end=_datetime(args, "end_datetime", end_of_day=True),
        )
    except ValidationError as exc:
        raise ToolError("; ".join(exc.messages)) from None
    results = [
        {"timestamp": hit.passage.created_at.isoformat(), "content": hit.passage.text, "tags": hit.passage.tags}
        for hit in hits
    ]
    return json.dumps({"count": len(results), "results": results}, ensure_ascii=False)


def send_message(ctx: ToolContext, args: JSON) -> str:
    _str(args, "message")
    return "Sent message successfully."


BUILTIN_IMPLEMENTATIONS: dict[str, Callable[[ToolContext, JSON], str]] = {
    "send_message": send_message,
    "memory_insert": memory_insert,
    "memory_replace": memory_replace,
    "memory_rethink": memory_rethink,
    "core_memory_append": core_memory_append,
    "core_memory_replace": core_memory_replace,
    "conversation_search": conversation_search,
    "archival_memory_insert": archival_memory_insert,
    "archival_memory_search": archival_memory_search,
    **FILE_IMPLEMENTATIONS,
}
