"""MCP servers (letta-client `mcp_servers.*`, both 1.7.x and 1.12.x call the same routes): create, list, retrieve,
update, delete, refresh, and each server's tools: list, retrieve, run."""

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.http import api_actor
from agents.models import MCPServer, Tool
from agents.selectors import mcp_server_get, mcp_server_list, mcp_tool_get
from agents.services.mcp import (
    mcp_server_create,
    mcp_server_delete,
    mcp_server_refresh,
    mcp_server_update,
    mcp_tool_run,
)
from api import wire
from api.base import ApiView, validated
from api.lookups import agent_or_404, not_found
from api.schemas import McpServerSchema, ToolExecutionResultSchema, ToolSchema
from lib.ids import parse_id

S = serializers


def server_or_404(request: Request, server_id: str) -> MCPServer:
    with not_found("MCP server", server_id):
        return mcp_server_get(actor=api_actor(request), server_id=parse_id("mcp_server", server_id))


def mcp_tool_or_404(server: MCPServer, tool_id: str) -> Tool:
    """A tool of the server by `tool-<uuid>`, or by its name."""
    try:
        if tool_id.startswith("tool-"):
            return mcp_tool_get(server=server, tool_id=parse_id("tool", tool_id))
        return mcp_tool_get(server=server, name=tool_id)
    except (Tool.DoesNotExist, NotFound):
        raise NotFound(f"Tool {tool_id} not found on MCP server {server.name}") from None


class McpServerCreateInput(S.Serializer[Any]):
    server_name = S.CharField(max_length=200)
    config = S.DictField()


class UpdateInput(S.Serializer[Any]):
    server_name = S.CharField(max_length=200, required=False, allow_null=True)
    config = S.DictField(required=False, allow_null=True)


class McpServerListCreateApi(ApiView):
    @extend_schema(operation_id="mcp_list_mcp_servers", responses={200: McpServerSchema(many=True)})
    def get(self, request: Request) -> Response:
        return Response([wire.mcp_server_to_wire(s) for s in mcp_server_list(actor=api_actor(request))])

    @extend_schema(operation_id="mcp_create_mcp_server", request=McpServerCreateInput, responses={200: McpServerSchema})
    def post(self, request: Request) -> Response:
        """Connects to the server and lists its tools before storing it: a server that cannot be reached is a 422
        naming `config`. Its tools become tools of the organization (tool_type external_mcp)."""
        data = validated(McpServerCreateInput, request.data)
        server = mcp_server_create(actor=api_actor(request), name=data["server_name"], config=data["config"])
        return Response(wire.mcp_server_to_wire(server))


class AgentMcpServerListApi(ApiView):
    @extend_schema(operation_id="list_mcp_servers_for_agent", responses={200: McpServerSchema(many=True)})
    def get(self, request: Request, agent_id: str) -> Response:
        """The MCP servers whose tools are attached to the agent (letta-code lists them before each turn)."""
        agent = agent_or_404(request, agent_id)
        return Response([wire.mcp_server_to_wire(s) for s in mcp_server_list(actor=api_actor(request), agent=agent)])


class McpServerDetailApi(ApiView):
    @extend_schema(operation_id="mcp_retrieve_mcp_server", responses={200: McpServerSchema})
    def get(self, request: Request, mcp_server_id: str) -> Response:
        return Response(wire.mcp_server_to_wire(server_or_404(request, mcp_server_id)))

    @extend_schema(operation_id="mcp_update_mcp_server", request=UpdateInput, responses={200: McpServerSchema})
    def patch(self, request: Request, mcp_server_id: str) -> Response:
        """Fields of `config` left out or null keep their values; a masked secret sent back keeps the stored one.
        A changed connection is tested first (422 naming `config` when it fails; nothing changes)."""
        server = server_or_404(request, mcp_server_id)
        data = validated(UpdateInput, request.data)
        server = mcp_server_update(server=server, name=data.get("server_name"), config=data.get("config"))
        return Response(wire.mcp_server_to_wire(server))

    @extend_schema(operation_id="mcp_delete_mcp_server", responses={204: None})
    def delete(self, request: Request, mcp_server_id: str) -> Response:
        mcp_server_delete(server=server_or_404(request, mcp_server_id))
        return Response(status=204)


class McpServerRefreshApi(ApiView):
    class FilterSerializer(S.Serializer[Any]):
        agent_id = S.CharField(required=False, allow_null=True)

    @extend_schema(
        operation_id="mcp_refresh_mcp_server_tools",
        request=None,
        parameters=[FilterSerializer],
        responses={200: OpenApiTypes.OBJECT},
    )
    def patch(self, request: Request, mcp_server_id: str) -> Response:
        """Re-lists the server's tools: removes the ones gone, updates changed schemas, adds new ones (attached to
        `agent_id` too, when given). Answers what changed, and the tools not taken with the reason."""
        server = server_or_404(request, mcp_server_id)
        params = validated(self.FilterSerializer, request.query_params)
        agent = agent_or_404(request, params["agent_id"]) if params.get("agent_id") else None
        summary = mcp_server_refresh(server=server, agent=agent)
        return Response({"message": "refreshed", **summary.to_json()})


class McpServerToolListApi(ApiView):
    @extend_schema(operation_id="mcp_list_tools_for_mcp_server", responses={200: ToolSchema(many=True)})
    def get(self, request: Request, mcp_server_id: str) -> Response:
        server = server_or_404(request, mcp_server_id)
        return Response([wire.tool_to_wire(t) for t in server.tools.order_by("name", "id")])


class McpServerToolDetailApi(ApiView):
    @extend_schema(operation_id="mcp_retrieve_mcp_tool", responses={200: ToolSchema})
    def get(self, request: Request, mcp_server_id: str, mcp_tool_id: str) -> Response:
        return Response(wire.tool_to_wire(mcp_tool_or_404(server_or_404(request, mcp_server_id), mcp_tool_id)))


class McpServerToolRunApi(ApiView):
    class InputSerializer(S.Serializer[Any]):
        args = S.DictField(required=False, default=dict)

    @extend_schema(operation_id="mcp_run_tool", request=InputSerializer, responses={200: ToolExecutionResultSchema})
    def post(self, request: Request, mcp_server_id: str, mcp_tool_id: str) -> Response:
        """Runs the tool now through the agent loop's executor. A failing tool, or a server that fails or does
        not answer within ENGRAM_MCP_TIMEOUT, answers status "error" with the reason as func_return."""
        tool = mcp_tool_or_404(server_or_404(request, mcp_server_id), mcp_tool_id)
        data = validated(self.InputSerializer, request.data)
        result = mcp_tool_run(tool=tool, args=data.get("args"))
        return Response(
            {
                "status": "error" if result.is_err else "success",
                "func_return": result.text,
                "agent_state": None,
                "stdout": result.stdout,
                "stderr": result.stderr,
                "sandbox_config_fingerprint": None,
            }
        )
