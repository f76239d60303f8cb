"""MCP servers as letta-client's StdioMcpServer / SseMcpServer / StreamableHTTPMcpServer. Secrets (environment
values, the auth token, custom header values) are masked: they are never returned in full."""

from typing import cast

from agents.models import MCPServer
from agents.tools.mcp.spec import credentials, mask
from api.wire.blocks import JSON
from api.wire.types import McpServerWire
from lib.ids import public_id


def mcp_server_to_wire(server: MCPServer) -> JSON:
    creds = credentials(server)
    out: McpServerWire = {
        "id": public_id("mcp_server", server.id),
        "server_name": server.name,
        "mcp_server_type": server.kind,
    }
    if server.kind == MCPServer.Kind.STDIO:
        out["command"] = server.command
        out["args"] = list(server.args or [])
        out["env"] = {key: mask(value) for key, value in sorted(creds.env.items())} or None
    else:
        out["server_url"] = server.server_url
        out["auth_header"] = server.auth_header or ("Authorization" if creds.auth_token else None)
        out["auth_token"] = mask(creds.auth_token) if creds.auth_token else None
        out["custom_headers"] = {key: mask(value) for key, value in sorted(creds.custom_headers.items())} or None
    return cast(JSON, out)
