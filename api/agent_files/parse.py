"""Reading an agent file: the upload, its JSON, and each entity checked field by field (a ValidationError names
the path of the offending field)."""

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile

from agents.content import clean_part
from agents.messages import calls_reply
from agents.model_settings import model_settings_from_letta
from agents.models import MessageRole, Tool
from agents.services.messages import MessageSpec
from agents.services.tools import builtin_tools_ensure, tool_create, tool_update
from api.agent_files.common import (
    BUILTIN_TOOL_TYPES,
    CUSTOM_TOOL_TYPE,
    JSON,
    MAX_AGENTS,
    MAX_ID_CHARS,
    MAX_MESSAGES,
    MAX_NAME_CHARS,
    MAX_PASSAGES,
    MAX_RETURN,
)
from lib.providers import api_base_clean
from lib.text import check_storable
from memory.models import Block
from memory.services.blocks import block_create
from memory.services.passages import PassageInput

# -- export ------------------------------------------------------------------------------------------------


# -- reading a file ----------------------------------------------------------------------------------------


def agent_file_read(*, upload: "UploadedFile[bytes]") -> JSON:
    """An uploaded `.af` → the document; its size is checked before it is read."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if limit is not None and upload.size is not None and upload.size > limit:
        raise ValidationError({"file": f"is {upload.size} bytes; the limit is {limit} bytes (ENGRAM_MAX_BODY_BYTES)"})
    return agent_file_parse(raw=upload.read())


def agent_file_parse(*, raw: bytes) -> JSON:
    """Bytes of an uploaded `.af` → the document. A document exported as a JSON string (some Letta versions
    double-encoded it) is unwrapped once. Errors are ValidationError({"file": reason})."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if limit is not None and len(raw) > limit:
        raise ValidationError({"file": f"is {len(raw)} bytes; the limit is {limit} bytes (ENGRAM_MAX_BODY_BYTES)"})
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationError({"file": "is not UTF-8 text (an agent file is JSON)"}) from None
    try:
        data = json.loads(text, parse_constant=_no_constant)
        if isinstance(data, str):
            data = json.loads(data, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise ValidationError(
            {"file": f"is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"}
        ) from None
    except RecursionError:
        raise ValidationError({"file": "is nested too deeply"}) from None
    if not isinstance(data, dict):
        raise ValidationError({"file": "must hold a JSON object with an 'agents' list"})
    check_storable(data)
    return data


def _no_constant(name: str) -> Any:
    raise ValidationError({"file": f"holds {name}, which is not a JSON number"})


# -- import ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportOptions:
    name: str | None = None  # replaces the agent's name (single-agent files)
    append_copy_suffix: bool = False
    override_existing_tools: bool = False  # replace the source of same-named custom tools instead of reusing them
    strip_messages: bool = False
    model: str | None = None
    embedding: str | None = None
    secrets: dict[str, str] | None = None  # added to (and overriding) the secrets the file's agents carry
    # Credentials of the file's MCP servers, by server name: {"env": {…}, "auth_token": …, "custom_headers": {…}}
    mcp_credentials: dict[str, Any] | None = None


def _fail(path: str, reason: str) -> ValidationError:
    return ValidationError({path: reason})


@contextmanager
def _at(path: str) -> Iterator[None]:
    """Re-key a service's ValidationError({field: …}) under the file path of the object being imported."""
    try:
        yield
    except ValidationError as exc:
        if hasattr(exc, "error_dict"):
            raise ValidationError({f"{path}.{k}": v for k, v in exc.message_dict.items()}) from None
        raise ValidationError({path: exc.messages}) from None


def _list(value: Any, path: str, *, maximum: int, required: bool = False) -> list[Any]:
    if value is None and not required:
        return []
    if not isinstance(value, list):
        raise _fail(path, "must be a list")
    if len(value) > maximum:
        raise _fail(path, f"at most {maximum} items ({len(value)} given)")
    return value


def _obj(value: Any, path: str) -> JSON:
    if not isinstance(value, dict):
        raise _fail(path, "must be an object")
    return value


def _str(value: Any, path: str, *, required: bool = False) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise _fail(path, "must be a non-empty string" if required else "must be a string")
    return value


def _required_str(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail(path, "must be a non-empty string")
    return value


def _local_id(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value:
        raise _fail(path, "must be a non-empty string id")
    return value


def _datetime(value: Any, path: str) -> dt.datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _fail(path, "must be an ISO 8601 date-time string")
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _fail(path, f"{value!r} is not an ISO 8601 date-time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    try:
        return parsed.astimezone(dt.UTC)
    except OverflowError:
        raise _fail(path, f"{value!r} is out of range") from None


def _handle(value: str | None, path: str) -> str | None:
    if value is not None and len(value) > MAX_NAME_CHARS:
        raise _fail(path, f"at most {MAX_NAME_CHARS} characters")
    return value


def _model_settings(entry: JSON, ext: JSON, path: str, *, model: str | None) -> dict[str, Any] | None:
    """Engram's own settings when the file has them, else what Letta's llm_config / model_settings say.

    `model` is the file's handle, or None when the import overrides it (the file's endpoint then does not apply).
    An endpoint is checked here, under its path in the file, before agent_create checks it again."""
    if "model_settings" in ext:
        own = _obj(ext["model_settings"], f"{path}.engram.model_settings")
        api_base_clean(own.get("api_base"), field=f"{path}.engram.model_settings.api_base")
        return own
    return model_settings_from_letta(
        entry,
        model=model,
        prefix=path,
        endpoint_hint="; or choose the model at import (`model`), which leaves the file's endpoint out",
    )


def _tool_from_file(*, actor: User, org_id: uuid.UUID, entry: JSON, path: str, override: bool) -> Tool:
    name = _required_str(entry.get("name"), f"{path}.name")
    if len(name) > MAX_NAME_CHARS:
        raise _fail(f"{path}.name", f"at most {MAX_NAME_CHARS} characters")
    kind = entry.get("tool_type")
    source_code = entry.get("source_code")
    if kind is None:
        kind = CUSTOM_TOOL_TYPE if source_code else None
    if kind in BUILTIN_TOOL_TYPES or kind in (Tool.ToolType.BUILTIN, Tool.ToolType.MEMORY):
        builtins = builtin_tools_ensure()
        if name not in builtins:
            raise _fail(f"{path}.name", f"built-in tool {name!r} is not available on this server")
        return builtins[name]
    if kind != CUSTOM_TOOL_TYPE:
        raise _fail(
            f"{path}.tool_type",
            f"unsupported tool type {kind!r} (custom tools with Python source and built-in tools can be imported)",
        )
    if entry.get("source_type") not in (None, "python"):
        raise _fail(f"{path}.source_type", f"only Python tools can be imported, not {entry['source_type']!r}")
    source = _required_str(source_code, f"{path}.source_code")
    schema = entry.get("json_schema")
    if schema is not None:
        schema = _obj(schema, f"{path}.json_schema")
    tags = entry.get("tags")
    limit = entry.get("return_char_limit")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_RETURN):
        raise _fail(f"{path}.return_char_limit", f"must be an integer between 1 and {MAX_RETURN}")
    description = _str(entry.get("description"), f"{path}.description")
    existing = Tool.objects.select_for_update().filter(organization_id=org_id, name=name).first()
    with _at(path):
        if existing is None:
            return tool_create(
                actor=actor,
                source_code=source,
                name=name,
                description=description,
                json_schema=schema,
                tags=tags,
                return_char_limit=limit,
            )
        if override:
            return tool_update(
                tool=existing,
                source_code=source,
                description=description,
                json_schema=schema,
                tags=tags,
                return_char_limit=limit,
            )
    return existing


def _block_from_file(*, actor: User, entry: JSON, path: str) -> Block:
    with _at(path):
        return block_create(
            actor=actor,
            label=entry.get("label"),  # type: ignore[arg-type]  # block_create validates it
            value=entry["value"] if entry.get("value") is not None else "",
            limit=entry.get("limit"),
            description=entry.get("description"),
            read_only=entry["read_only"] if entry.get("read_only") is not None else False,
            metadata=entry.get("metadata"),
            tags=entry.get("tags"),
        )


def _text_of(parts: list[JSON]) -> str:
    return "".join(str(p.get("text", "")) for p in parts if p.get("type") == "text")


def _clean_tool_calls(value: Any, path: str) -> list[JSON]:
    out = []
    for i, raw in enumerate(_list(value, path, maximum=1_000)):
        call = _obj(raw, f"{path}[{i}]")
        function = _obj(call.get("function"), f"{path}[{i}].function")
        name = _str(function.get("name"), f"{path}[{i}].function.name", required=True)
        arguments = function.get("arguments", "{}")
        if not isinstance(arguments, str):
            arguments = json.dumps(arguments)
        call_id = _str(call.get("id"), f"{path}[{i}].id") or f"call_{uuid.uuid4().hex[:24]}"
        out.append({"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}})
    return out


def _message_spec(raw: Any, path: str, *, memgpt: bool, call_names: dict[str, str]) -> MessageSpec | None:
    """One file message → what message_create_many stores; None for messages Engram has no place for
    (Letta's tool-approval records)."""
    entry = _obj(raw, path)
    role = entry.get("role")
    if role == "approval":
        return None
    if role == "function":  # Letta's legacy name for a tool result
        role = MessageRole.TOOL
    if role not in MessageRole.values:
        raise _fail(f"{path}.role", f"unknown role {role!r} (one of: {', '.join(MessageRole.values)})")
    content = entry.get("content")
    if isinstance(content, str):
        content = [{"type": "text", "text": content}]
    parts = [_obj(p, f"{path}.content[{i}]") for i, p in enumerate(_list(content, f"{path}.content", maximum=1_000))]
    kept = [
        clean_part(p, f"{path}.content[{i}]")
        for i, p in enumerate(parts)
        if p.get("type") == "text" or (p.get("type") == "image" and role == MessageRole.USER)
    ]
    reasoning = "\n".join(
        str(p["reasoning"]) for p in parts if p.get("type") == "reasoning" and isinstance(p.get("reasoning"), str)
    )
    calls = _clean_tool_calls(entry.get("tool_calls"), f"{path}.tool_calls") if role == MessageRole.ASSISTANT else []
    for call in calls:
        call_names[call["id"]] = call["function"]["name"]
    text = _text_of(kept)
    is_err = False
    tool_call_id = ""
    if role == MessageRole.TOOL:
        returns = [
            _obj(r, f"{path}.tool_returns[{i}]")
            for i, r in enumerate(_list(entry.get("tool_returns"), f"{path}.tool_returns", maximum=1_000))
        ]
        tool_call_id = _str(entry.get("tool_call_id"), f"{path}.tool_call_id") or ""
        if returns:
            tool_call_id = tool_call_id or str(returns[0].get("tool_call_id") or "")
            is_err = any(r.get("status") == "error" for r in returns)
            if not text:
                text = "\n".join(str(r.get("func_response") or "") for r in returns)
        if not kept:
            kept = [{"type": "text", "text": text}] if text else []
    elif role == MessageRole.ASSISTANT and memgpt:
        # Engram stores a memgpt turn's inner monologue as reasoning and what send_message said as its text.
        reasoning = "\n".join(p for p in (reasoning, text) if p)
        text = calls_reply(calls)
    if len(tool_call_id) > MAX_ID_CHARS:
        raise _fail(f"{path}.tool_call_id", f"at most {MAX_ID_CHARS} characters")
    name = _str(entry.get("name"), f"{path}.name") or ""
    if role == MessageRole.TOOL and not name:
        name = call_names.get(tool_call_id, "")
    ext = entry.get("engram")
    if ext is not None:
        ext = _obj(ext, f"{path}.engram")
        text = _str(ext.get("text"), f"{path}.engram.text") or ""
        reasoning = _str(ext.get("reasoning"), f"{path}.engram.reasoning") or ""
        if not isinstance(ext.get("is_err", False), bool):
            raise _fail(f"{path}.engram.is_err", "must be a boolean")
        is_err = bool(ext.get("is_err", False))
    return MessageSpec(
        role=role,
        text=text,
        content=kept,
        reasoning=reasoning,
        tool_calls=calls,
        tool_call_id=tool_call_id,
        name=name[:200],
        otid=(_str(entry.get("otid"), f"{path}.otid") or "")[:200],
        sender_id=(_str(entry.get("sender_id"), f"{path}.sender_id") or "")[:200],
        is_err=is_err,
        created_at=_datetime(entry.get("created_at"), f"{path}.created_at"),
    )


def _messages_from_file(entry: JSON, path: str, *, memgpt: bool, from_engram: bool) -> list[MessageSpec]:
    raws = _list(entry.get("messages"), f"{path}.messages", maximum=MAX_MESSAGES)
    ids: list[str] = []
    for i, raw in enumerate(raws):
        local = _local_id(_obj(raw, f"{path}.messages[{i}]").get("id"), f"{path}.messages[{i}].id")
        if local in ids:
            raise _fail(f"{path}.messages[{i}].id", f"duplicate message id {local!r}")
        ids.append(local)
    context_raw = entry.get("in_context_message_ids")
    if context_raw is None:
        context = list(ids)  # no window recorded: the whole history is in context
    else:
        context = [
            _local_id(v, f"{path}.in_context_message_ids[{i}]")
            for i, v in enumerate(_list(context_raw, f"{path}.in_context_message_ids", maximum=MAX_MESSAGES))
        ]
        unknown = [c for c in context if c not in set(ids)]
        if unknown:
            raise _fail(f"{path}.in_context_message_ids", f"unknown message id {unknown[0]!r}")
    # The history keeps the file's order, except that the window's messages take the window's order.
    in_context = set(context)
    positions = [i for i, local in enumerate(ids) if local in in_context]
    order = list(range(len(ids)))
    by_id = {local: i for i, local in enumerate(ids)}
    for position, local in zip(positions, dict.fromkeys(context), strict=False):
        order[position] = by_id[local]
    first_in_context = context[0] if context else None
    specs: list[MessageSpec] = []
    call_names: dict[str, str] = {}
    user_otids: set[str] = set()
    for i in order:
        raw = raws[i]
        local = ids[i]
        if not from_engram and local == first_in_context and raw.get("role") == MessageRole.SYSTEM:
            continue  # Letta's compiled system prompt: Engram compiles its own from `system` and the blocks
        spec = _message_spec(raw, f"{path}.messages[{i}]", memgpt=memgpt, call_names=call_names)
        if spec is None:
            continue
        spec.in_context = local in in_context
        if spec.role == MessageRole.USER and spec.otid:
            if spec.otid in user_otids:
                spec.otid = ""  # an otid names one user message per agent (a resend is recognised by it)
            user_otids.add(spec.otid)
        specs.append(spec)
    return specs


@dataclass
class ArchiveEntry:
    """A shared archive as an agent file carries it (`engram.archives` at the top level)."""

    name: str
    description: str
    metadata: dict[str, Any]
    embedding: str | None
    passages: list[PassageInput]


def _archives_from_file(data: JSON) -> dict[str, ArchiveEntry]:
    """The file's shared archives by file-local id (`engram.archives`: Letta's format has no such entity)."""
    ext = _obj(data.get("engram") or {}, "engram")
    out: dict[str, ArchiveEntry] = {}
    for i, raw in enumerate(_list(ext.get("archives"), "engram.archives", maximum=MAX_AGENTS * 10)):
        where = f"engram.archives[{i}]"
        entry = _obj(raw, where)
        local = _local_id(entry.get("id"), f"{where}.id")
        if local in out:
            raise _fail(f"{where}.id", f"duplicate archive id {local!r}")
        name = _required_str(entry.get("name"), f"{where}.name")
        if len(name) > MAX_NAME_CHARS:
            raise _fail(f"{where}.name", f"at most {MAX_NAME_CHARS} characters")
        out[local] = ArchiveEntry(
            name=name,
            description=_str(entry.get("description"), f"{where}.description") or "",
            metadata=_obj(entry.get("metadata") or {}, f"{where}.metadata"),
            embedding=_handle(_str(entry.get("embedding"), f"{where}.embedding"), f"{where}.embedding"),
            passages=_passage_list(entry.get("passages"), f"{where}.passages"),
        )
    return out


def _passages_from_file(ext: JSON, path: str) -> list[PassageInput]:
    return _passage_list(ext.get("archival_passages"), f"{path}.archival_passages")


def _passage_list(value: Any, path: str) -> list[PassageInput]:
    out = []
    raws = _list(value, path, maximum=MAX_PASSAGES)
    for i, raw in enumerate(raws):
        where = f"{path}[{i}]"
        entry = _obj(raw, where)
        text = _required_str(entry.get("text"), f"{where}.text")
        tags = entry.get("tags") if entry.get("tags") is not None else []
        if not isinstance(tags, list) or not all(isinstance(t, str) and t for t in tags):
            raise _fail(f"{where}.tags", "must be a list of non-empty strings")
        metadata = entry.get("metadata") if entry.get("metadata") is not None else {}
        created_at = _datetime(entry.get("created_at"), f"{where}.created_at")
        out.append(
            PassageInput(text=text, tags=tags, metadata=_obj(metadata, f"{where}.metadata"), created_at=created_at)
        )
    return out
