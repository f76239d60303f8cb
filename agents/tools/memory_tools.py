"""The built-in memory tools (Letta's names and parameters): core memory blocks, recall and archival memory."""

import json
import re
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from agents.models import Agent, AgentBlock
from agents.tools.base import (
    JSON,
    ToolContext,
    ToolError,
    arg_datetime,
    arg_int,
    arg_str,
    arg_str_list,
)
from memory.models import Block
from memory.services.blocks import block_create, block_update


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


def _write(ctx: ToolContext, block: Block, value: str, **fields: Any) -> str:
    try:
        block_update(block=block, agent_id=ctx.agent.id, step_id=ctx.step_id, source="tool", value=value, **fields)
    except ValidationError as exc:
        raise ToolError("; ".join(exc.messages)) from None
    return f"The memory block '{block.label}' has been updated."


def _insert(block: Block, text: str, line: int) -> str:
    lines = block.value.split("\n") if block.value else []
    if line == -1:
        line = len(lines)
    if not 0 <= line <= len(lines):
        raise ToolError(f"insert_line {line} is out of range: the block has {len(lines)} lines")
    return "\n".join([*lines[:line], *text.split("\n"), *lines[line:]])


def _replace(block: Block, old: str, new: str) -> str:
    if not old:
        raise ToolError("old_string must not be empty")
    count = block.value.count(old)
    if count == 0:
        raise ToolError(f"old_string {old!r} does not appear in the block '{block.label}'")
    if count > 1:
        raise ToolError(f"old_string {old!r} appears {count} times in '{block.label}'; make it unique")
    return block.value.replace(old, new)


def memory_insert(ctx: ToolContext, args: JSON) -> str:
    block = _block(ctx, args.get("label"))
    return _write(ctx, block, _insert(block, arg_str(args, "new_string"), arg_int(args, "insert_line", -1)))


def memory_replace(ctx: ToolContext, args: JSON) -> str:
    block = _block(ctx, args.get("label"))
    return _write(ctx, block, _replace(block, arg_str(args, "old_string"), arg_str(args, "new_string")))


def memory_rethink(ctx: ToolContext, args: JSON) -> str:
    return _write(ctx, _block(ctx, args.get("label")), arg_str(args, "new_memory"))


def memory_finish_edits(ctx: ToolContext, args: JSON) -> str:
    return "Memory edits finished."


_HUNK = re.compile(r"^@@")


def _hunks(patch: str) -> list[tuple[list[str], list[str]]]:
    """(old lines, new lines) per hunk of a unified-diff-style patch: ' ' context, '-' removed, '+' added; '@@'
    starts a hunk; envelope lines ('***', '---', '+++') are skipped."""
    hunks: list[tuple[list[str], list[str]]] = []
    old: list[str] = []
    new: list[str] = []
    for line in patch.split("\n"):
        if line.startswith(("***", "--- ", "+++ ")):
            continue
        if _HUNK.match(line):
            if old or new:
                hunks.append((old, new))
            old, new = [], []
        elif line.startswith("-"):
            old.append(line[1:])
        elif line.startswith("+"):
            new.append(line[1:])
        elif line.startswith(" ") or line == "":
            old.append(line[1:])
            new.append(line[1:])
        else:
            raise ToolError(f"patch line {line!r} must start with ' ', '-', '+' or '@@'")
    if old or new:
        hunks.append((old, new))
    while hunks and hunks[-1][0] == hunks[-1][1] == [""]:
        hunks.pop()
    return hunks


def memory_apply_patch(ctx: ToolContext, args: JSON) -> str:
    block = _block(ctx, args.get("label"))
    value = block.value
    hunks = _hunks(arg_str(args, "patch"))
    if not hunks:
        raise ToolError("the patch holds no changes")
    for index, (old, new) in enumerate(hunks):
        before, after = "\n".join(old), "\n".join(new)
        if not before:
            value = f"{value}\n{after}" if value else after
            continue
        count = value.count(before)
        if count != 1:
            where = "does not match" if count == 0 else f"matches {count} places in"
            raise ToolError(f"hunk {index + 1} {where} the block '{block.label}'")
        value = value.replace(before, after)
    return _write(ctx, block, value)


def _path_label(args: JSON, key: str = "path") -> str:
    path = arg_str(args, key).strip()
    label = path.removeprefix("/memories/").strip("/")
    if not label:
        raise ToolError(f"argument '{key}' must name a memory block, such as /memories/notes")
    return label


def _attach_new_block(ctx: ToolContext, label: str, value: str, description: str) -> str:
    if ctx.agent.blocks.filter(label=label).exists():
        raise ToolError(f"a memory block labelled '{label}' already exists")
    try:
        with transaction.atomic():
            block = block_create(
                actor=None, organization_id=ctx.agent.organization_id, label=label, value=value, description=description
            )
            AgentBlock.objects.create(agent=ctx.agent, block=block)
    except ValidationError as exc:
        raise ToolError("; ".join(exc.messages)) from None
    Agent.objects.filter(pk=ctx.agent.pk).update(compiled_hash="")  # the system message now shows the block
    return f"The memory block '{label}' has been created."


def memory(ctx: ToolContext, args: JSON) -> str:
    """The omni memory tool: one command per call on a block addressed by path (its label)."""
    command = arg_str(args, "command")
    if command == "view":
        block = _block(ctx, _path_label(args))
        return block.value
    if command == "create":
        label = _path_label(args)
        return _attach_new_block(
            ctx, label, arg_str(args, "file_text", required=False), arg_str(args, "description", required=False)
        )
    if command == "str_replace":
        block = _block(ctx, _path_label(args))
        return _write(ctx, block, _replace(block, arg_str(args, "old_string"), arg_str(args, "new_string")))
    if command == "insert":
        block = _block(ctx, _path_label(args))
        text = arg_str(args, "insert_text", required=False) or arg_str(args, "new_string", required=False)
        return _write(ctx, block, _insert(block, text, arg_int(args, "insert_line", -1)))
    if command == "delete":
        block = _block(ctx, _path_label(args))
        AgentBlock.objects.filter(agent=ctx.agent, block=block).delete()
        Agent.objects.filter(pk=ctx.agent.pk).update(compiled_hash="")
        return f"The memory block '{block.label}' has been removed."
    if command == "rename":
        block = _block(ctx, _path_label(args, "old_path"))
        new_label = _path_label(args, "new_path")
        if ctx.agent.blocks.filter(label=new_label).exists():
            raise ToolError(f"a memory block labelled '{new_label}' already exists")
        result = _write(ctx, block, block.value, label=new_label)
        Agent.objects.filter(pk=ctx.agent.pk).update(compiled_hash="")
        return result
    raise ToolError(f"unknown command {command!r} (one of: view, create, str_replace, insert, delete, rename)")


def core_memory_append(ctx: ToolContext, args: JSON) -> str:
    block = _block(ctx, args.get("label"))
    content = arg_str(args, "content")
    return _write(ctx, block, f"{block.value}\n{content}" if block.value else content)


def core_memory_replace(ctx: ToolContext, args: JSON) -> str:
    block = _block(ctx, args.get("label"))
    old, new = arg_str(args, "old_content"), arg_str(args, "new_content")
    if not old or old not in block.value:
        raise ToolError(f"old_content {old!r} not found in the block '{block.label}'")
    return _write(ctx, block, block.value.replace(old, new))


def conversation_search(ctx: ToolContext, args: JSON) -> str:
    from agents.runtime.recall import message_search

    query = arg_str(args, "query")
    roles = arg_str_list(args, "roles")
    limit = arg_int(args, "limit", 10, minimum=1, maximum=100)
    try:
        hits = message_search(
            agent=ctx.agent,
            query=query,
            roles=roles,
            start=arg_datetime(args, "start_date"),
            end=arg_datetime(args, "end_date", end_of_day=True),
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
        passage_insert(agent=ctx.agent, text=arg_str(args, "content"), tags=arg_str_list(args, "tags"))
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
            query=arg_str(args, "query"),
            tags=arg_str_list(args, "tags"),
            tag_match_mode="all" if mode == "all" else "any",
            top_k=arg_int(args, "top_k", 10, minimum=1, maximum=200),
            start=arg_datetime(args, "start_datetime"),
            end=arg_datetime(args, "end_datetime", end_of_day=True),
        )
    except ValidationError as exc:
        raise ToolError("; ".join(exc.messages)) from None
    results = [
        {"timestamp": hit.passage.created_at.isoformat(), "content": hit.passage.text, "tags": hit.passage.tags}
        for hit in hits
    ]
    return json.dumps({"count": len(results), "results": results}, ensure_ascii=False)


def send_message(ctx: ToolContext, args: JSON) -> str:
    arg_str(args, "message")
    return "Sent message successfully."
