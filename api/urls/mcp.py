from django.urls import URLPattern

from api.routes import slash_optional
from api.views.mcp import (
    AgentMcpServerListApi,
    McpServerDetailApi,
    McpServerListCreateApi,
    McpServerRefreshApi,
    McpServerToolDetailApi,
    McpServerToolListApi,
    McpServerToolRunApi,
)

app_name = "mcp"

S = "mcp-servers/<str:mcp_server_id>"

urlpatterns: list[URLPattern] = [
    *slash_optional("mcp-servers/", McpServerListCreateApi.as_view(), "server-list"),
    *slash_optional("agents/<str:agent_id>/mcp-servers", AgentMcpServerListApi.as_view(), "agent-server-list"),
    *slash_optional(f"{S}/", McpServerDetailApi.as_view(), "server-detail"),
    *slash_optional(f"{S}/refresh", McpServerRefreshApi.as_view(), "server-refresh"),
    *slash_optional(f"{S}/tools", McpServerToolListApi.as_view(), "tool-list"),
    *slash_optional(f"{S}/tools/<str:mcp_tool_id>", McpServerToolDetailApi.as_view(), "tool-detail"),
    *slash_optional(f"{S}/tools/<str:mcp_tool_id>/run", McpServerToolRunApi.as_view(), "tool-run"),
]
