"""The MCP page: the organization's MCP servers (add one after testing the connection, refresh, delete) and each
server's tools with their schemas, attachable to an agent."""

import uuid

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from accounts.http import AuthedHttpRequest
from ade.forms import MCPServerForm, MCPToolAttachForm
from ade.views.common import or_404
from agents.models import Agent, MCPServer, Tool
from agents.selectors import agent_get, agent_list, mcp_server_get, mcp_server_list, mcp_tool_get
from agents.services.agents import agent_tool_attach
from agents.services.mcp import mcp_config_test, mcp_server_create, mcp_server_delete, mcp_server_refresh
from agents.tools.mcp.client import RemoteTool


def _server_or_404(request: AuthedHttpRequest, server_id: uuid.UUID) -> MCPServer:
    with or_404():
        return mcp_server_get(actor=request.user, server_id=server_id)


def _errors(form: MCPServerForm, exc: ValidationError) -> None:
    for key, reasons in exc.message_dict.items():
        field = key.removeprefix("config.")
        form.add_error(field if field in form.fields else None, "; ".join(reasons))


@require_http_methods(["GET", "POST"])
def mcp_servers(request: AuthedHttpRequest) -> HttpResponse:
    form = MCPServerForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                server = mcp_server_create(
                    actor=request.user, name=form.cleaned_data["server_name"], config=form.config()
                )
            except ValidationError as exc:
                _errors(form, exc)
            else:
                messages.success(request, f"Added {server.name} with {server.tools.count()} tool(s).")
                return redirect("ade:mcp-server", server_id=server.id)
        status = 422
    servers = mcp_server_list(actor=request.user).prefetch_related("tools")
    return render(request, "ade/mcp.html", {"servers": servers, "form": form}, status=status)


@require_POST
def mcp_test(request: AuthedHttpRequest) -> HttpResponse:
    """Connect with the form's settings and list the tools, storing nothing."""
    form = MCPServerForm(request.POST)
    tools: list[RemoteTool] = []
    error = ""
    if form.is_valid():
        try:
            tools = mcp_config_test(config=form.config())
        except ValidationError as exc:
            error = "; ".join(f"{k.removeprefix('config.')}: {'; '.join(v)}" for k, v in exc.message_dict.items())
    else:
        error = "; ".join(f"{k}: {'; '.join(str(m) for m in v)}" for k, v in form.errors.items())
    return render(request, "ade/mcp.html#test-result", {"tested": True, "tools": tools, "error": error})


def _detail(request: AuthedHttpRequest, server: MCPServer, *, error: str = "", status: int = 200) -> HttpResponse:
    context = {
        "server": server,
        "tools": server.tools.order_by("name"),
        "agents": agent_list(actor=request.user).order_by("name")[:500],
        "error": error,
    }
    template = "ade/mcp_server.html#tool-list" if request.htmx else "ade/mcp_server.html"
    return render(request, template, context, status=status)


def mcp_server_detail(request: AuthedHttpRequest, server_id: uuid.UUID) -> HttpResponse:
    return _detail(request, _server_or_404(request, server_id))


@require_POST
def mcp_refresh(request: AuthedHttpRequest, server_id: uuid.UUID) -> HttpResponse:
    server = _server_or_404(request, server_id)
    try:
        summary = mcp_server_refresh(server=server)
    except ValidationError as exc:
        return _detail(request, server, error="; ".join(exc.messages), status=422)
    messages.success(
        request,
        f"Refreshed: {len(summary.added)} added, {len(summary.updated)} updated, {len(summary.deleted)} removed"
        + (f", {len(summary.skipped)} skipped" if summary.skipped else "")
        + ".",
    )
    return _detail(request, server)


@require_POST
def mcp_delete(request: AuthedHttpRequest, server_id: uuid.UUID) -> HttpResponse:
    server = _server_or_404(request, server_id)
    mcp_server_delete(server=server)
    messages.success(request, f"Deleted {server.name} and its tools.")
    return redirect("ade:mcp")


@require_POST
def mcp_tool_attach(request: AuthedHttpRequest, server_id: uuid.UUID, tool_id: uuid.UUID) -> HttpResponse:
    server = _server_or_404(request, server_id)
    form = MCPToolAttachForm(request.POST)
    try:
        tool = mcp_tool_get(server=server, tool_id=tool_id)
        if not form.is_valid():
            raise Agent.DoesNotExist
        agent = agent_get(actor=request.user, agent_id=form.cleaned_data["agent"])
    except (Tool.DoesNotExist, Agent.DoesNotExist):
        raise Http404 from None
    agent_tool_attach(agent=agent, tool=tool)
    messages.success(request, f"Attached {tool.name} to {agent.name}.")
    return _detail(request, server)
