"""Built-in tools: JSON schemas with Letta's names and parameters (so prompts and agent files written for Letta
work unchanged), and the registry of their implementations (agents.tools.memory_tools, agents.tools.web)."""

from collections.abc import Callable

from agents.models import Tool
from agents.tools import memory_tools, web
from agents.tools.base import JSON, ToolContext, ToolError
from agents.tools.base import schema as _schema
from agents.tools.files import FILE_IMPLEMENTATIONS, FILE_SCHEMAS, FILE_TOOLS

__all__ = ["BUILTIN_IMPLEMENTATIONS", "BUILTIN_SCHEMAS", "JSON", "ToolContext", "ToolError", "builtin_tool_type"]


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
            "new_string": {"type": "string", "description": "The text to insert. Do not include line numbers."},
            "insert_line": {
                "type": "integer",
                "description": "The line number after which to insert the text (0 for the beginning). "
                "Defaults to -1 (the end of the block).",
            },
        },
        ["label", "new_string"],
    ),
    "memory_replace": _schema(
        "memory_replace",
        "The memory_replace command allows you to replace a specific string in a memory block with a new string. "
        "This is used for making precise edits. Do not include line numbers.",
        {
            "label": _LABEL,
            "old_string": {"type": "string", "description": "The text to replace (must match exactly, once)."},
            "new_string": {"type": "string", "description": "The new text to insert in place of the old text."},
        },
        ["label", "old_string", "new_string"],
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
    "memory_finish_edits": _schema(
        "memory_finish_edits",
        "Call this when you have finished editing your memory.",
        {},
        [],
    ),
    "memory_apply_patch": _schema(
        "memory_apply_patch",
        "Apply a patch to a memory block: hunks start with '@@'; lines starting with ' ' are context, '-' are "
        "removed and '+' are added. Each hunk's context and removed lines must match the block exactly once.",
        {
            "label": {"type": "string", "description": "The memory block to patch, identified by its label."},
            "patch": {"type": "string", "description": "The patch to apply."},
        },
        ["label", "patch"],
    ),
    "memory": _schema(
        "memory",
        "Manage your memory blocks, addressed by path (/memories/<label>). Commands: view, create (file_text, "
        "description), str_replace (old_string, new_string), insert (insert_line, insert_text), delete, rename "
        "(old_path, new_path).",
        {
            "command": {
                "type": "string",
                "enum": ["view", "create", "str_replace", "insert", "delete", "rename"],
                "description": "The operation to perform.",
            },
            "path": {"type": "string", "description": "The memory block's path, such as /memories/notes."},
            "file_text": {"type": "string", "description": "create: the new block's contents."},
            "description": {"type": "string", "description": "create: what the new block is for."},
            "old_string": {"type": "string", "description": "str_replace: the text to replace (exactly once)."},
            "new_string": {"type": "string", "description": "str_replace: the replacement text."},
            "insert_line": {"type": "integer", "description": "insert: the line after which to insert (-1: end)."},
            "insert_text": {"type": "string", "description": "insert: the text to insert."},
            "old_path": {"type": "string", "description": "rename: the block's current path."},
            "new_path": {"type": "string", "description": "rename: the block's new path."},
        },
        ["command"],
    ),
    "fetch_webpage": _schema(
        "fetch_webpage",
        "Fetch a web page and return its readable text.",
        {"url": {"type": "string", "description": "The http:// or https:// URL of the page."}},
        ["url"],
    ),
    "web_search": _schema(
        "web_search",
        "Search the web and return the best results (title, URL and a snippet of each).",
        {
            "query": {"type": "string", "description": "What to search for."},
            "num_results": {"type": "integer", "description": "How many results to return (default 10)."},
            "include_domains": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Only results from this domain (the first one given).",
            },
            "exclude_domains": {
                "type": "array",
                "items": {"type": "string"},
                "description": "No results from these domains.",
            },
        },
        ["query"],
    ),
    **FILE_SCHEMAS,
}

MEMORY_TOOLS = {
    "memory_insert",
    "memory_replace",
    "memory_rethink",
    "memory_finish_edits",
    "memory_apply_patch",
    "memory",
    "core_memory_append",
    "core_memory_replace",
}
BASE_TOOLS_V1 = ["conversation_search", "memory_insert", "memory_replace"]
BASE_TOOLS_MEMGPT = ["send_message", "core_memory_append", "core_memory_replace", "conversation_search"]
WEB_TOOLS = {"fetch_webpage", "web_search"}


def builtin_tool_type(name: str) -> str:
    if name in FILE_TOOLS:
        return Tool.ToolType.FILES
    if name in MEMORY_TOOLS:
        return Tool.ToolType.MEMORY
    return Tool.ToolType.WEB if name in WEB_TOOLS else Tool.ToolType.BUILTIN


BUILTIN_IMPLEMENTATIONS: dict[str, Callable[[ToolContext, JSON], str]] = {
    "send_message": memory_tools.send_message,
    "memory_insert": memory_tools.memory_insert,
    "memory_replace": memory_tools.memory_replace,
    "memory_rethink": memory_tools.memory_rethink,
    "memory_finish_edits": memory_tools.memory_finish_edits,
    "memory_apply_patch": memory_tools.memory_apply_patch,
    "memory": memory_tools.memory,
    "core_memory_append": memory_tools.core_memory_append,
    "core_memory_replace": memory_tools.core_memory_replace,
    "conversation_search": memory_tools.conversation_search,
    "archival_memory_insert": memory_tools.archival_memory_insert,
    "archival_memory_search": memory_tools.archival_memory_search,
    "fetch_webpage": web.fetch_webpage,
    "web_search": web.web_search,
    **FILE_IMPLEMENTATIONS,
}
