"""One call of an MCP tool for the executor (agents.tools.execute)."""

from typing import Any

from agents.models import MCPServer, Tool
from agents.tools.mcp.client import call_tool
from agents.tools.mcp.spec import spec_for


def run_mcp_tool(tool: Tool, args: dict[str, Any]) -> str:
    """The tool's text result; MCPError (the server failed, timed out or refused) or MCPToolError (the tool
    reported an error) otherwise, or MCPServer.DoesNotExist when the tool has no server."""
    server = tool.mcp_server
    if server is None:
        raise MCPServer.DoesNotExist("this MCP tool has no server (it was imported without one)")
    return call_tool(spec_for(server), tool.name, args)
