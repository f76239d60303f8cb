"""The file tools an agent gets with an attached folder (Letta's names and parameters): open_files,
grep_files, semantic_search_files. They act on files.windows and files.search for the calling agent only."""

import json
from typing import Any

from django.core.exceptions import ValidationError

from agents.tools.base import JSON, ToolContext, ToolError
from agents.tools.base import schema as _schema
from files import search, windows

FILE_TOOLS = ["open_files", "grep_files", "semantic_search_files"]

FILE_SCHEMAS: dict[str, JSON] = {
    "open_files": _schema(
        "open_files",
        "Open one or more files and load their contents into files section in core memory. Maximum of "
        "max_files_open files can be opened simultaneously; opening more closes the least recently used.\n\n"
        "Use when you need to read a file, or a range of its lines (offset and length), e.g. the lines around a "
        "match from grep_files or semantic_search_files.",
        {
            "file_requests": {
                "type": "array",
                "description": "List of file open requests, each specifying file name and optional view range.",
                "items": {
                    "type": "object",
                    "properties": {
                        "file_name": {"type": "string", "description": "Name of the file to open (folder/file)."},
                        "offset": {
                            "type": "integer",
                            "description": "Optional starting line number (1-indexed). If not specified, starts "
                            "from the beginning of the file.",
                        },
                        "length": {
                            "type": "integer",
                            "description": "Optional number of lines to view from offset (inclusive). If not "
                            "specified, views to the end of the file.",
                        },
                    },
                    "required": ["file_name"],
                },
            },
            "close_all_others": {
                "type": "boolean",
                "description": "If true, closes all other currently open files first. Defaults to false.",
            },
        },
        ["file_requests"],
    ),
    "grep_files": _schema(
        "grep_files",
        "Searches file contents for pattern matches with surrounding context. Results are paginated: 20 matches "
        "per call; use offset to see more.",
        {
            "pattern": {"type": "string", "description": "Keyword or regex pattern to search within file contents."},
            "include": {
                "type": "string",
                "description": "Optional glob pattern to filter which files to search (e.g. '*.py', 'docs/*').",
            },
            "context_lines": {
                "type": "integer",
                "description": "Number of lines of context to show before and after each match (default 1).",
            },
            "offset": {
                "type": "integer",
                "description": "Number of matches to skip before showing results, for pagination (default 0).",
            },
        },
        ["pattern"],
    ),
    "semantic_search_files": _schema(
        "semantic_search_files",
        "Searches file contents using semantic meaning rather than exact matches. Ideal for finding conceptually "
        "related information across files, when the exact words are unknown.",
        {
            "query": {"type": "string", "description": "The search query."},
            "limit": {"type": "integer", "description": "Maximum number of results to return (default 5)."},
        },
        ["query"],
    ),
}


def _ids(ctx: ToolContext) -> dict[str, Any]:
    return {"agent_id": ctx.agent.id, "organization_id": ctx.agent.organization_id}


def open_files(ctx: ToolContext, args: JSON) -> str:
    requests = args.get("file_requests")
    if not isinstance(requests, list) or not requests:
        raise ToolError("file_requests must be a non-empty list of {file_name, offset?, length?}")
    closed: list[str] = []
    if args.get("close_all_others"):
        closed += windows.files_close_all(**_ids(ctx))
    lines: list[str] = []
    for request in requests:
        if not isinstance(request, dict) or not isinstance(request.get("file_name"), str):
            raise ToolError("each file request needs a file_name")
        offset, length = request.get("offset"), request.get("length")
        for key, value in (("offset", offset), ("length", length)):
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise ToolError(f"{key} must be a positive integer")
        try:
            view = windows.view_by_name(name=request["file_name"], **_ids(ctx))
            opened = windows.file_open(view=view, offset=offset, length=length)
        except (windows.FileNotFoundForAgent, ValueError) as exc:
            raise ToolError(str(exc)) from None
        name = windows.display_name(view.folder, view.file)
        closed = [c for c in closed if c != name] + opened.closed
        note = " (cut at the character limit: open a later offset to read on)" if opened.truncated else ""
        lines.append(f"* Opened {name}, lines {opened.view.start_line} to {opened.view.end_line}{note}")
    if closed:
        lines.append("Closed: " + ", ".join(dict.fromkeys(closed)))
    return "\n".join(lines)


def grep_files(ctx: ToolContext, args: JSON) -> str:
    pattern = args.get("pattern")
    include = args.get("include")
    context_lines = args.get("context_lines", 1)
    offset = args.get("offset", 0) or 0
    if include is not None and not isinstance(include, str):
        raise ToolError("include must be a glob pattern")
    if not isinstance(context_lines, int) or not isinstance(offset, int) or offset < 0:
        raise ToolError("context_lines and offset must be non-negative integers")
    try:
        result = search.grep(
            pattern=str(pattern or ""), include=include or None, context_lines=context_lines, offset=offset, **_ids(ctx)
        )
    except ValueError as exc:
        raise ToolError(str(exc)) from None
    if not result.total:
        return f"No matches found for pattern {pattern!r}."
    end = result.offset + len(result.matches)
    out = [f"Found {result.total} matches in {result.files} files (showing {result.offset + 1}-{end})."]
    for match in result.matches:
        out.append(f"\n= {match.file_name}:{match.line} =")
        out += [f"{'>' if n == match.line else ' '} {n}: {text}" for n, text in match.context]
    if end < result.total:
        out.append(f"\nMore matches: call grep_files again with offset={end}.")
    return "\n".join(out)


def semantic_search_files(ctx: ToolContext, args: JSON) -> str:
    limit = args.get("limit", 5) or 5
    if not isinstance(limit, int) or not 1 <= limit <= 50:
        raise ToolError("limit must be an integer between 1 and 50")
    try:
        hits = search.semantic_search(query=str(args.get("query") or ""), limit=limit, **_ids(ctx))
    except ValidationError as exc:
        raise ToolError("; ".join(exc.messages)) from None
    if not hits:
        return f"No results found for {args.get('query')!r}."
    results = [
        {
            "file_name": hit.file_name,
            "lines": f"{hit.chunk.start_line}-{hit.chunk.end_line}",
            "score": round(hit.score, 4),
            "content": hit.chunk.text,
        }
        for hit in hits
    ]
    return json.dumps({"count": len(results), "results": results}, ensure_ascii=False)


FILE_IMPLEMENTATIONS = {
    "open_files": open_files,
    "grep_files": grep_files,
    "semantic_search_files": semantic_search_files,
}
