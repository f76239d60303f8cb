"""Tools: the organization's own (Python source, schema from signature and docstring) and the built-ins;
attaching them to agents."""

from typing import Any

from django.http import JsonResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound, Throttled
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.http import api_actor
from agents.models import Tool
from agents.selectors import tool_list, tool_search
from agents.services.agents import agent_tool_attach, agent_tool_detach
from agents.services.approvals import agent_tool_approval_set
from agents.services.tools import (
    agent_tool_run,
    builtin_tools_ensure,
    tool_create,
    tool_delete,
    tool_run_from_source,
    tool_update,
    tool_upsert,
)
from agents.tools.limits import ToolProcessesBusy
from api import wire
from api.base import ApiView, validated
from api.lookups import agent_or_404, present, tool_or_404
from api.pagination import MAX_LIMIT, CursorParams, paginate_by
from api.schemas import (
    AgentStateSchema,
    ToolExecutionResultSchema,
    ToolReturnMessageSchema,
    ToolSchema,
    ToolSearchResultSchema,
)
from api.views.agents import agent_response

S = serializers


class ToolInput(S.Serializer[Any]):
    source_code = S.CharField(trim_whitespace=False)
    name = S.CharField(required=False, allow_null=True, max_length=200)
    description = S.CharField(required=False, allow_null=True, allow_blank=True)
    json_schema = S.DictField(required=False, allow_null=True)
    args_json_schema = S.DictField(required=False, allow_null=True)
    tags = S.ListField(child=S.CharField(), required=False, allow_null=True)
    return_char_limit = S.IntegerField(required=False, allow_null=True, min_value=1, max_value=1_000_000)
    source_type = S.CharField(required=False, allow_null=True)
    pip_requirements = S.ListField(child=S.DictField(), required=False, allow_null=True)
    npm_requirements = S.ListField(child=S.DictField(), required=False, allow_null=True)
    default_requires_approval = S.BooleanField(required=False, allow_null=True)
    enable_parallel_execution = S.BooleanField(required=False, allow_null=True)


class ToolUpdateInput(S.Serializer[Any]):
    source_code = S.CharField(required=False, trim_whitespace=False)
    description = S.CharField(required=False, allow_blank=True)
    json_schema = S.DictField(required=False)
    tags = S.ListField(child=S.CharField(), required=False)
    return_char_limit = S.IntegerField(required=False, min_value=1, max_value=1_000_000)
    metadata_ = S.DictField(required=False, allow_null=True)


def _source_type_ok(data: dict[str, Any]) -> None:
    if data.get("source_type") not in (None, "python"):
        raise serializers.ValidationError({"source_type": "only python tools are supported"})


def _tool_input(request: Request) -> dict[str, Any]:
    """A create or upsert body, checked, as the keyword arguments tool_create and tool_upsert take."""
    data = validated(ToolInput, request.data)
    _source_type_ok(data)
    fields = ("name", "description", "json_schema", "tags", "return_char_limit")
    return {"source_code": data["source_code"], **{field: data.get(field) for field in fields}}


def _qs_for(request: Request, params: dict[str, Any]) -> Any:
    qs = tool_list(actor=api_actor(request), name=params.get("name"))
    if params.get("names"):
        qs = qs.filter(name__in=params["names"])
    if params.get("search"):
        qs = qs.filter(name__icontains=params["search"])
    if params.get("tool_types"):
        qs = qs.filter(tool_type__in=params["tool_types"])
    if params.get("exclude_tool_types"):
        qs = qs.exclude(tool_type__in=params["exclude_tool_types"])
    if params.get("return_only_letta_tools"):
        qs = qs.filter(organization=None)
    return qs


class ToolListCreateApi(ApiView):
    class FilterSerializer(CursorParams):
        name = S.CharField(required=False, allow_null=True)
        names = S.ListField(child=S.CharField(), required=False, allow_null=True)
        search = S.CharField(required=False, allow_null=True)
        tool_types = S.ListField(child=S.CharField(), required=False, allow_null=True)
        exclude_tool_types = S.ListField(child=S.CharField(), required=False, allow_null=True)
        return_only_letta_tools = S.BooleanField(required=False, allow_null=True, default=False)

    @extend_schema(operation_id="list_tools", parameters=[FilterSerializer], responses={200: ToolSchema(many=True)})
    def get(self, request: Request) -> Response:
        params = validated(self.FilterSerializer, request.query_params)
        page = paginate_by(_qs_for(request, params), prefix="tool", params=params)
        return Response([wire.tool_to_wire(t) for t in page])

    @extend_schema(operation_id="create_tool", request=ToolInput, responses={200: ToolSchema})
    def post(self, request: Request) -> Response:
        return Response(wire.tool_to_wire(tool_create(actor=api_actor(request), **_tool_input(request))))

    @extend_schema(operation_id="upsert_tool", request=ToolInput, responses={200: ToolSchema})
    def put(self, request: Request) -> Response:
        return Response(wire.tool_to_wire(tool_upsert(actor=api_actor(request), **_tool_input(request))))


class ToolCountApi(ApiView):
    @extend_schema(operation_id="count_tools", responses={200: OpenApiTypes.INT})
    def get(self, request: Request) -> Response:
        return Response(tool_list(actor=api_actor(request)).count())


class ToolDetailApi(ApiView):
    @extend_schema(operation_id="retrieve_tool", responses={200: ToolSchema})
    def get(self, request: Request, tool_id: str) -> Response:
        return Response(wire.tool_to_wire(tool_or_404(request, tool_id)))

    @extend_schema(operation_id="modify_tool", request=ToolUpdateInput, responses={200: ToolSchema})
    def patch(self, request: Request, tool_id: str) -> Response:
        tool = tool_or_404(request, tool_id)
        data = validated(ToolUpdateInput, request.data, partial=True)
        changes = present(data, "source_code", "description", "json_schema", "tags", "return_char_limit")
        return Response(wire.tool_to_wire(tool_update(tool=tool, **changes)))

    @extend_schema(operation_id="delete_tool", responses={200: None})
    def delete(self, request: Request, tool_id: str) -> Response:
        tool_delete(tool=tool_or_404(request, tool_id))
        return Response(None)


class AgentToolListApi(ApiView):
    @extend_schema(
        operation_id="list_tools_for_agent", parameters=[CursorParams], responses={200: ToolSchema(many=True)}
    )
    def get(self, request: Request, agent_id: str) -> Response:
        agent = agent_or_404(request, agent_id)
        params = validated(CursorParams, request.query_params)
        page = paginate_by(Tool.objects.filter(agenttool__agent=agent), prefix="tool", params=params)
        return Response([wire.tool_to_wire(t) for t in page])


class AgentToolAttachApi(ApiView):
    @extend_schema(operation_id="attach_tool", request=None, responses={200: AgentStateSchema})
    def patch(self, request: Request, agent_id: str, tool_id: str) -> Response:
        agent = agent_or_404(request, agent_id)
        agent_tool_attach(agent=agent, tool=tool_or_404(request, tool_id))
        return agent_response(agent)


class AgentToolDetachApi(ApiView):
    @extend_schema(operation_id="detach_tool", request=None, responses={200: AgentStateSchema})
    def patch(self, request: Request, agent_id: str, tool_id: str) -> Response:
        agent = agent_or_404(request, agent_id)
        agent_tool_detach(agent=agent, tool=tool_or_404(request, tool_id))
        return agent_response(agent)


class ToolSearchApi(ApiView):
    class InputSerializer(S.Serializer[Any]):
        query = S.CharField(required=False, allow_null=True, allow_blank=True, max_length=10_000)
        search_mode = S.ChoiceField(choices=["vector", "fts", "hybrid"], required=False, default="hybrid")
        tags = S.ListField(child=S.CharField(), required=False, allow_null=True)
        tool_types = S.ListField(child=S.CharField(), required=False, allow_null=True)
        limit = S.IntegerField(required=False, default=50, min_value=1, max_value=MAX_LIMIT)

    @extend_schema(
        operation_id="search_tools", request=InputSerializer, responses={200: ToolSearchResultSchema(many=True)}
    )
    def post(self, request: Request) -> Response:
        """The organization's tools and the built-ins that match the query's words (name, description, tags),
        best first. Tools are not embedded: every search mode ranks by words."""
        data = validated(self.InputSerializer, request.data)
        hits = tool_search(
            actor=api_actor(request),
            query=data.get("query"),
            tags=data.get("tags"),
            tool_types=data.get("tool_types"),
            limit=data["limit"],
        )
        return Response(
            [
                {
                    "tool": wire.tool_to_wire(hit.tool),
                    "combined_score": hit.score,
                    "embedded_text": hit.text,
                    "fts_rank": rank if data.get("query") else None,
                    "vector_rank": None,
                }
                for rank, hit in enumerate(hits, start=1)
            ]
        )


class ToolBaseAddApi(ApiView):
    @extend_schema(operation_id="add_base_tools", request=None, responses={200: ToolSchema(many=True)})
    def post(self, request: Request) -> Response:
        """Create or refresh the built-in tools (shared by every organization) and list them."""
        tools = builtin_tools_ensure()
        return Response([wire.tool_to_wire(tools[name]) for name in sorted(tools)])


class ToolRunApi(ApiView):
    class InputSerializer(S.Serializer[Any]):
        source_code = S.CharField(trim_whitespace=False)
        args = S.DictField(required=False, default=dict)
        name = S.CharField(required=False, allow_null=True, max_length=200)
        json_schema = S.DictField(required=False, allow_null=True)
        args_json_schema = S.DictField(required=False, allow_null=True)
        env_vars = S.DictField(child=S.CharField(allow_blank=True), required=False, allow_null=True)
        source_type = S.CharField(required=False, allow_null=True)
        pip_requirements = S.ListField(child=S.DictField(), required=False, allow_null=True)
        npm_requirements = S.ListField(child=S.DictField(), required=False, allow_null=True)

    @extend_schema(
        operation_id="run_tool_from_source", request=InputSerializer, responses={200: ToolReturnMessageSchema}
    )
    def post(self, request: Request) -> Response:
        """Run Python source once as a custom tool, without saving it, in a separate process (30 s limit).
        A failing tool answers status "error" with the error as its return."""
        data = validated(self.InputSerializer, request.data)
        _source_type_ok(data)
        if data.get("pip_requirements") or data.get("npm_requirements"):
            raise serializers.ValidationError({"pip_requirements": "installing packages for a tool is not supported"})
        try:
            name, result = tool_run_from_source(
                actor=api_actor(request),
                source_code=data["source_code"],
                args=data.get("args"),
                name=data.get("name"),
                json_schema=data.get("json_schema"),
                env_vars=data.get("env_vars"),
            )
        except ToolProcessesBusy as exc:
            raise Throttled(wait=1, detail=str(exc)) from None
        return Response(
            wire.tool_return_to_wire(
                result=result.text, is_err=result.is_err, name=name, stdout=result.stdout, stderr=result.stderr
            )
        )


class AgentToolApprovalApi(ApiView):
    class InputSerializer(S.Serializer[Any]):
        requires_approval = S.BooleanField(required=False, allow_null=True, default=None)
        # What the TypeScript SDK sends (it names the body field after its own parameter).
        body_requires_approval = S.BooleanField(required=False, allow_null=True, default=None)

    @extend_schema(operation_id="modify_approval_for_tool", request=InputSerializer, responses={200: OpenApiTypes.NONE})
    def patch(self, request: Request, agent_id: str, tool_name: str) -> JsonResponse:
        """Whether the agent's calls of this tool wait for a human's approval (a `requires_approval` tool rule).
        `requires_approval` comes in the body (`body_requires_approval` from the TypeScript SDK) or, deprecated, the
        query string. Answers null, as Letta does."""
        agent = agent_or_404(request, agent_id)
        body = validated(self.InputSerializer, request.data if isinstance(request.data, dict) else {})
        query = validated(self.InputSerializer, request.query_params)
        given = (body["requires_approval"], body["body_requires_approval"], query["requires_approval"])
        value = next((v for v in given if v is not None), None)
        if value is None:
            raise S.ValidationError({"requires_approval": "is required (true or false)"})
        try:
            agent_tool_approval_set(agent=agent, tool_name=tool_name, requires_approval=value)
        except Tool.DoesNotExist:
            raise NotFound(f"Agent {agent_id} has no tool named {tool_name}") from None
        return JsonResponse(None, safe=False)  # a JSON null, as Letta answers


class AgentToolRunApi(ApiView):
    class InputSerializer(S.Serializer[Any]):
        args = S.DictField(required=False, default=dict)

    @extend_schema(
        operation_id="run_tool_for_agent", request=InputSerializer, responses={200: ToolExecutionResultSchema}
    )
    def post(self, request: Request, agent_id: str, tool_name: str) -> Response:
        """Run one of the agent's tools now with the given arguments, through the agent loop's tool executor
        (built-ins act on the agent's memory; custom tools run in a separate process). A failing tool answers
        status "error" with the error as func_return; a tool the agent does not have is a 404."""
        agent = agent_or_404(request, agent_id)
        data = validated(self.InputSerializer, request.data)
        try:
            result = agent_tool_run(agent=agent, tool_name=tool_name, args=data.get("args"))
        except Tool.DoesNotExist:
            raise NotFound(f"Agent {agent_id} has no tool named {tool_name}") from None
        except ToolProcessesBusy as exc:
            raise Throttled(wait=1, detail=str(exc)) from None
        state = agent_response(agent).data
        return Response(
            {
                "status": "error" if result.is_err else "success",
                "func_return": result.text,
                "agent_state": state,
                "stdout": result.stdout,
                "stderr": result.stderr,
                "sandbox_config_fingerprint": None,
            }
        )
