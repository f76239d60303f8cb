"""MCP servers in agent files. Export writes each server an agent's MCP tools come from (`mcp_servers[]`: name,
transport, command and arguments or URL and auth header name) without any credential; `engram.credentials` names
the ones the server had (environment variable names, whether there was an auth token, custom header names), and
each MCP tool entry names its server (`engram.mcp_server_id`, the file-local id).

Import reuses the organization's server of the same name (its tools must include the file's), or creates the
server with the file's tool schemas, without connecting; the credentials it needs come from the importer
(`ImportOptions.mcp_credentials`, by server name), and a missing one is a ValidationError naming the server and the
credential (the ADE's import form and the API's `mcp_credentials` field ask for them)."""

from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError

from agents.models import MCPServer, Tool
from agents.services.mcp import mcp_server_create_offline
from agents.tools.mcp.client import RemoteTool
from agents.tools.mcp.spec import credentials
from api.agent_files.common import JSON
from lib.ids import local_id

MCP_TOOL_TYPE = Tool.ToolType.MCP.value
MAX_SERVERS = 100


def servers_to_file(tools: list[Tool]) -> tuple[list[JSON], dict[Any, str]]:
    """The file's `mcp_servers` entries for these tools' servers, and each server's file-local id by its pk."""
    servers: dict[Any, MCPServer] = {}
    for tool in tools:
        if tool.mcp_server is not None:
            servers.setdefault(tool.mcp_server.pk, tool.mcp_server)
    entries: list[JSON] = []
    ids: dict[Any, str] = {}
    for i, server in enumerate(sorted(servers.values(), key=lambda s: s.name)):
        ids[server.pk] = local_id("mcp_server", i)
        creds = credentials(server)
        entry: JSON = {"id": ids[server.pk], "server_name": server.name, "mcp_server_type": server.kind}
        if server.kind == MCPServer.Kind.STDIO:
            entry.update(command=server.command, args=list(server.args or []))
        else:
            entry.update(server_url=server.server_url, auth_header=server.auth_header or None)
        entry["engram"] = {
            "credentials": {
                "env": sorted(creds.env),
                "auth_token": bool(creds.auth_token),
                "custom_headers": sorted(creds.custom_headers),
            }
        }
        entries.append(entry)
    return entries, ids


def _fail(path: str, reason: str) -> ValidationError:
    return ValidationError({path: reason})


def _needed(entry: JSON, given: JSON, path: str) -> JSON:
    """The server's config from the file plus the importer's credentials; what is missing is named."""
    wanted = entry.get("engram", {}).get("credentials", {}) if isinstance(entry.get("engram"), dict) else {}
    wanted = wanted if isinstance(wanted, dict) else {}
    config: JSON = {
        k: entry.get(k) for k in ("mcp_server_type", "command", "args", "server_url", "auth_header") if k in entry
    }
    missing: list[str] = []
    env = given.get("env") or {}
    for name in wanted.get("env") or []:
        if name not in env:
            missing.append(f"env.{name}")
    if wanted.get("auth_token") and not given.get("auth_token"):
        missing.append("auth_token")
    headers = given.get("custom_headers") or {}
    for name in wanted.get("custom_headers") or []:
        if name not in headers:
            missing.append(f"custom_headers.{name}")
    if missing:
        raise _fail(
            path,
            f"the MCP server {entry.get('server_name')!r} needs credentials the file does not carry: "
            f"{', '.join(missing)} (give them in mcp_credentials)",
        )
    if env:
        config["env"] = env
    if given.get("auth_token"):
        config["auth_token"] = given["auth_token"]
    if headers:
        config["custom_headers"] = headers
    return config


def servers_from_file(
    *, actor: User, organization_id: Any, data: JSON, given: dict[str, JSON] | None
) -> dict[str, MCPServer]:
    """The file's MCP servers (by file-local id) as servers of the organization: the same-named one, or a new one
    holding the file's tools for it. Caller holds the import's transaction."""
    raw_servers = data.get("mcp_servers") or []
    if not isinstance(raw_servers, list) or len(raw_servers) > MAX_SERVERS:
        raise _fail("mcp_servers", f"must be a list of at most {MAX_SERVERS} servers")
    listed = data.get("tools")
    raw_tools: list[Any] = listed if isinstance(listed, list) else []
    given = given or {}
    out: dict[str, MCPServer] = {}
    for i, entry in enumerate(raw_servers):
        path = f"mcp_servers[{i}]"
        if not isinstance(entry, dict):
            raise _fail(path, "must be an object")
        local, name = entry.get("id"), entry.get("server_name")
        if not isinstance(local, str) or not local:
            raise _fail(f"{path}.id", "must be a non-empty string id")
        if not isinstance(name, str) or not name.strip():
            raise _fail(f"{path}.server_name", "must be a non-empty string")
        existing = MCPServer.objects.filter(organization_id=organization_id, name=name).first()
        if existing is not None:
            out[local] = existing
            continue
        tools = [
            RemoteTool(
                str(t.get("name")),
                str(t.get("description") or ""),
                dict((t.get("json_schema") or {}).get("parameters") or {}),
            )
            for t in raw_tools
            if isinstance(t, dict) and _server_ref(t) in (local, name)
        ]
        credentials_for = given.get(name) or {}
        if not isinstance(credentials_for, dict):
            raise _fail("mcp_credentials", f"{name}: must be an object (env, auth_token, custom_headers)")
        config = _needed(entry, credentials_for, path)
        try:
            out[local] = mcp_server_create_offline(actor=actor, name=name, config=config, tools=tools)
        except ValidationError as exc:
            raise ValidationError({f"{path}.{k}": v for k, v in exc.message_dict.items()}) from None
    return out


def _server_ref(tool: JSON) -> str | None:
    engram = tool.get("engram")
    if isinstance(engram, dict) and isinstance(engram.get("mcp_server_id"), str):
        return str(engram["mcp_server_id"])
    metadata = tool.get("metadata_") or tool.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("mcp"), dict):
        server_name = metadata["mcp"].get("server_name")
        return str(server_name) if isinstance(server_name, str) else None
    return None


def mcp_tool_from_file(*, entry: JSON, path: str, servers: dict[str, MCPServer]) -> Tool:
    """The tool an MCP tool entry names, on the server it came from."""
    ref = _server_ref(entry)
    server = servers.get(ref or "") or next((s for s in servers.values() if s.name == ref), None)
    if server is None:
        raise _fail(path, "an MCP tool must name one of the file's mcp_servers (engram.mcp_server_id)")
    tool = Tool.objects.filter(mcp_server=server, name=entry.get("name")).first()
    if tool is None:
        raise _fail(
            f"{path}.name",
            f"the MCP server {server.name!r} has no tool {entry.get('name')!r} (refresh the server and import again)",
        )
    return tool
