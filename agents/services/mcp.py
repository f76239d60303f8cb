"""MCP servers of an organization and the tools they bring: create, update, delete, refresh (keep the Tool rows in
step with the server's tool list), test a configuration, run one of the tools.

A server is stored only after its tools were listed (create, and an update that changes how to reach it), so a
server that cannot be reached is a ValidationError naming `config` and nothing is written. The connection happens
outside any transaction; the rows are written in one."""

import re
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.selectors import organization_id_for
from agents.models import Agent, AgentTool, MCPServer, Tool
from agents.services.tools import clean_tool_environment
from agents.tools.builtin import BUILTIN_SCHEMAS
from agents.tools.execute import ToolResult, execute_tool
from agents.tools.mcp.client import MCPError, RemoteTool, close_server, list_tools
from agents.tools.mcp.spec import MASK, Credentials, ServerSpec, credentials, mask, spec_for
from agents.tools.validate import parameters_problem
from lib.ids import public_id
from lib.netguard import AddressRefused, check_url
from lib.text import check_storable

KINDS = [k.value for k in MCPServer.Kind]
_TOOL_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")  # what every provider accepts as a function name
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,200}")
MAX_ARGS = 100
MAX_HEADERS = 50


@dataclass
class Config:
    """A server's settings as validated from a Letta `config` object (secrets in the clear)."""

    kind: str
    command: str = ""
    args: list[str] = field(default_factory=list)
    server_url: str = ""
    auth_header: str = ""
    creds: Credentials = field(default_factory=lambda: Credentials({}, "", {}))

    def spec(self, server_id: Any = None) -> ServerSpec:
        probe = MCPServer(
            id=server_id,
            kind=self.kind,
            command=self.command,
            args=self.args,
            server_url=self.server_url,
            auth_header=self.auth_header,
            secrets_encrypted=self.creds.to_token(),
        )
        return spec_for(probe)


def _err(name: str, reason: str) -> ValidationError:
    return ValidationError({f"config.{name}": reason})


def _string(data: dict[str, Any], name: str, *, limit: int, required: bool = False) -> str:
    value = data.get(name)
    if value is None or value == "":
        if required:
            raise _err(name, "is required")
        return ""
    if not isinstance(value, str) or len(value) > limit or "\x00" in value:
        raise _err(name, f"must be a string of at most {limit} characters")
    return value


def _headers(value: Any, keep: dict[str, str]) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or len(value) > MAX_HEADERS:
        raise _err("custom_headers", f"must be an object of at most {MAX_HEADERS} header names to string values")
    out: dict[str, str] = {}
    for name, text in value.items():
        if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name):
            raise _err("custom_headers", f"{name!r} is not an HTTP header name")
        if not isinstance(text, str) or len(text) > 10_000 or any(c in text for c in "\r\n\x00"):
            raise _err("custom_headers", f"{name}: the value must be one line of at most 10000 characters")
        out[name] = _unmasked(text, keep.get(name))
    return out


def _unmasked(value: str, stored: str | None) -> str:
    """A masked value sent back unchanged (the ADE's form, a client echoing what it read) keeps the stored one."""
    if stored is not None and value.startswith(MASK) and value == mask(stored):
        return stored
    return value


def clean_config(data: Any, *, current: MCPServer | None = None) -> Config:
    """A Letta create or update `config`, validated; on update (`current`), fields left out or null keep their
    stored values, and masked secrets sent back keep theirs. Bad input is a ValidationError naming `config.<field>`."""
    if not isinstance(data, dict):
        raise ValidationError({"config": "must be an object"})
    check_storable(data, root="config")
    kind = data.get("mcp_server_type") or data.get("type")
    if kind is None:
        kind = current.kind if current else ("stdio" if data.get("command") else "streamable_http")
    if kind not in KINDS:
        raise _err("mcp_server_type", f"must be one of {', '.join(KINDS)}")
    same = current is not None and current.kind == kind
    stored = credentials(current) if same and current else Credentials({}, "", {})

    def keep(name: str) -> Any:
        value = data.get(name)
        return getattr(current, name) if value is None and same else value

    if kind == MCPServer.Kind.STDIO:
        command = _string({"command": keep("command")}, "command", limit=1000, required=True)
        args = keep("args")
        args = [] if args is None else args
        if not isinstance(args, list) or len(args) > MAX_ARGS or not all(isinstance(a, str) for a in args):
            raise _err("args", f"must be a list of at most {MAX_ARGS} strings")
        if any(len(a) > 100_000 or "\x00" in a for a in args):
            raise _err("args", "each argument must be at most 100000 characters, without NUL")
        env = data.get("env")
        if env is None:
            env = dict(stored.env)
        else:
            env = {k: _unmasked(v, stored.env.get(k)) if isinstance(v, str) else v for k, v in dict(env).items()}
            clean_tool_environment(env, "config.env")
        return Config(kind=kind, command=command, args=list(args), creds=Credentials(env, "", {}))
    url = _string({"server_url": keep("server_url")}, "server_url", limit=2000, required=True)
    try:
        check_url(url, allow_private=settings.ENGRAM_MCP_ALLOW_PRIVATE, setting="ENGRAM_MCP_ALLOW_PRIVATE")
    except AddressRefused as exc:
        raise _err("server_url", str(exc)) from None
    header = _string({"auth_header": keep("auth_header")}, "auth_header", limit=200)
    if header and not _HEADER_NAME.fullmatch(header):
        raise _err("auth_header", f"{header!r} is not an HTTP header name")
    token = data.get("auth_token")
    if token is None:
        token = stored.auth_token
    else:
        token = _unmasked(_string({"auth_token": token}, "auth_token", limit=10_000), stored.auth_token)
        if any(c in token for c in "\r\n"):
            raise _err("auth_token", "must be one line")
    headers = data.get("custom_headers")
    custom = dict(stored.custom_headers) if headers is None else _headers(headers, stored.custom_headers)
    return Config(kind=kind, server_url=url, auth_header=header, creds=Credentials({}, token, custom))


def _fetch_tools(spec: ServerSpec) -> list[RemoteTool]:
    try:
        return list_tools(spec)
    except MCPError as exc:
        raise ValidationError({"config": str(exc)}) from None


def mcp_config_test(*, config: Any, current: MCPServer | None = None) -> list[RemoteTool]:
    """Connect with `config` (as create or update would) and list the server's tools, storing nothing."""
    cleaned = clean_config(config, current=current)
    return _fetch_tools(cleaned.spec(current.id if current else None))


@dataclass
class SyncSummary:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # a tool not taken, and why

    def to_json(self) -> dict[str, Any]:
        return {
            "tools_added": self.added,
            "tools_updated": self.updated,
            "tools_deleted": self.deleted,
            "tools_skipped": [{"name": n, "reason": r} for n, r in self.skipped.items()],
        }


def _tool_fields(server: MCPServer, remote: RemoteTool) -> dict[str, Any]:
    parameters = dict(remote.input_schema or {})
    parameters.setdefault("type", "object")
    parameters.setdefault("properties", {})
    return {
        "description": remote.description,
        "json_schema": {"name": remote.name, "description": remote.description, "parameters": parameters},
        "tags": [f"mcp:{server.name}"],
        "metadata": {"mcp": {"server_name": server.name, "server_id": public_id("mcp_server", server.id)}},
    }


def _sync_tools(server: MCPServer, remote: list[RemoteTool]) -> SyncSummary:
    """Make the server's Tool rows match `remote`: new tools added, changed ones updated (attachments kept),
    vanished ones deleted. A tool whose name another tool of the organization (or a built-in) holds is skipped.
    Caller holds a transaction."""
    summary = SyncSummary()
    mine = {t.name: t for t in Tool.objects.select_for_update().filter(mcp_server=server)}
    wanted: dict[str, RemoteTool] = {}
    for tool in remote:
        problem = None
        if not _TOOL_NAME.fullmatch(tool.name):
            problem = "the name must be 1-64 letters, digits, _ or -"
        elif parameters_problem({"type": "object", **tool.input_schema}) is not None:
            problem = f"its input schema {parameters_problem({'type': 'object', **tool.input_schema})}"
        elif tool.name in BUILTIN_SCHEMAS:
            problem = "a built-in tool has this name"
        if problem:
            summary.skipped[tool.name] = problem
        else:
            wanted[tool.name] = tool
    taken = set(
        Tool.objects.filter(organization_id=server.organization_id, name__in=list(wanted))
        .exclude(mcp_server=server)
        .values_list("name", flat=True)
    )
    for name in sorted(taken):
        summary.skipped[name] = "another tool of the organization has this name"
        del wanted[name]
    for name, row in mine.items():
        if name not in wanted:
            row.delete()
            summary.deleted.append(name)
    for name, tool in sorted(wanted.items()):
        fields = _tool_fields(server, tool)
        existing = mine.get(name)
        if existing is None:
            Tool.objects.create(
                organization_id=server.organization_id,
                mcp_server=server,
                name=name,
                tool_type=Tool.ToolType.MCP,
                created_by=server.created_by,
                **fields,
            )
            summary.added.append(name)
        elif any(getattr(existing, k) != v for k, v in fields.items()):
            for key, value in fields.items():
                setattr(existing, key, value)
            existing.save()
            summary.updated.append(name)
    return summary


def _clean_name(name: Any, *, organization_id: Any, exclude: Any = None) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > 200 or "\x00" in name:
        raise ValidationError({"server_name": "must be a non-empty string of at most 200 characters"})
    taken = MCPServer.objects.filter(organization_id=organization_id, name=name)
    if exclude is not None:
        taken = taken.exclude(pk=exclude)
    if taken.exists():
        raise ValidationError({"server_name": f"an MCP server named {name!r} already exists"})
    return name


def _apply(server: MCPServer, config: Config) -> None:
    server.kind = config.kind
    server.command = config.command
    server.args = config.args
    server.server_url = config.server_url
    server.auth_header = config.auth_header
    server.secrets_encrypted = config.creds.to_token()


def mcp_server_create(*, actor: User, name: Any, config: Any) -> MCPServer:
    """Connect, list the tools, then store the server and its tools in one transaction."""
    organization_id = organization_id_for(actor)
    name = _clean_name(name, organization_id=organization_id)
    cleaned = clean_config(config)
    remote = _fetch_tools(cleaned.spec())
    with transaction.atomic():
        name = _clean_name(name, organization_id=organization_id)  # again, now in the transaction
        server = MCPServer(organization_id=organization_id, name=name, created_by=actor)
        _apply(server, cleaned)
        server.save()
        _sync_tools(server, remote)
    return server


def mcp_server_create_offline(*, actor: User, name: str, config: Any, tools: list[RemoteTool]) -> MCPServer:
    """Store a server with the given tools without connecting (agent-file import: the file carries the tool
    schemas, and the server may be reachable only later). Caller holds a transaction."""
    organization_id = organization_id_for(actor)
    server = MCPServer(
        organization_id=organization_id, name=_clean_name(name, organization_id=organization_id), created_by=actor
    )
    _apply(server, clean_config(config))
    server.save()
    _sync_tools(server, tools)
    return server


def mcp_server_update(*, server: MCPServer, name: Any = None, config: Any = None) -> MCPServer:
    """Rename and/or change how to reach the server; a changed connection is tested (and the tools refreshed)
    before anything is stored."""
    remote: list[RemoteTool] | None = None
    cleaned: Config | None = None
    if config is not None:
        cleaned = clean_config(config, current=server)
        if cleaned.spec(server.id).key != spec_for(server).key:
            remote = _fetch_tools(cleaned.spec(server.id))
    with transaction.atomic():
        locked = MCPServer.objects.select_for_update().get(pk=server.pk)
        if name is not None and name != locked.name:
            locked.name = _clean_name(name, organization_id=locked.organization_id, exclude=locked.pk)
        if cleaned is not None:
            _apply(locked, cleaned)
        locked.save()
        if remote is not None or name is not None:
            _sync_tools(locked, remote if remote is not None else _stored_tools(locked))
    transaction.on_commit(lambda: close_server(locked.id))
    return locked


def _stored_tools(server: MCPServer) -> list[RemoteTool]:
    rows = Tool.objects.filter(mcp_server=server)
    return [RemoteTool(t.name, t.description, dict(t.json_schema.get("parameters") or {})) for t in rows]


def mcp_server_delete(*, server: MCPServer) -> None:
    """The server and its tools (detached from every agent)."""
    server_id = server.id
    server.delete()
    transaction.on_commit(lambda: close_server(server_id))


def mcp_server_refresh(*, server: MCPServer, agent: Agent | None = None) -> SyncSummary:
    """Re-list the server's tools: delete those gone, update changed schemas, add new ones. With `agent` (of the
    server's organization), the new tools are attached to it too."""
    try:
        remote = list_tools(spec_for(server))
    except MCPError as exc:
        raise ValidationError({"mcp_server": str(exc)}) from None
    with transaction.atomic():
        summary = _sync_tools(server, remote)
        if agent is not None:
            for tool in Tool.objects.filter(mcp_server=server, name__in=summary.added):
                AgentTool.objects.get_or_create(agent=agent, tool=tool)
    return summary


def mcp_tool_run(*, tool: Tool, args: Any) -> ToolResult:
    """Run one of a server's tools now, through the loop's executor (schema check, timeout, return_char_limit)."""
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise ValidationError({"args": "must be an object of argument names to values"})
    return execute_tool(None, tool, dict(args))
