"""Agents: create, list, retrieve, modify, delete; tags."""

from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Prefetch, QuerySet
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.http import api_actor
from accounts.selectors import organization_id_for
from agents.model_settings import (
    context_window_from_letta,
    embedding_handle_from_letta,
    model_handle_from_letta,
    model_settings_from_letta,
)
from agents.models import Agent, AgentTag, Identity, MessageRole, StopReason, Tool
from agents.selectors import agent_list, pending_calls
from agents.services.agents import agent_create, agent_delete, agent_recompile, agent_update
from agents.services.folders import agent_folders_set
from api import wire
from api.base import ApiView, validated
from api.lookups import agent_or_404, bare_ids, folder_or_404, not_found, present
from api.pagination import CursorParams, cursor_id, paginate
from api.schemas import AgentStateSchema, ContextWindowSchema, MemorySchema
from api.wire import context_window_overview
from files.models import AgentFolder, Folder
from lib.ids import parse_id
from lib.providers import api_base_allowed
from memory.models import Block

S = serializers


def agents_with_relations(qs: QuerySet[Agent]) -> QuerySet[Agent]:
    return qs.prefetch_related(
        Prefetch("blocks", queryset=Block.objects.order_by("agentblock__created_at", "agentblock__id")),
        Prefetch("tools", queryset=Tool.objects.order_by("name")),
        Prefetch("tag_rows", queryset=AgentTag.objects.order_by("tag")),
        "secret_rows",
        Prefetch("folder_links", queryset=AgentFolder.objects.select_related("folder").order_by("created_at", "id")),
        Prefetch(
            "identities",
            queryset=Identity.objects.order_by("created_at", "id").prefetch_related("agent_links", "block_links"),
        ),
    )


def _folders(request: Request, data: dict[str, Any]) -> list[Folder] | None:
    """`folder_ids` (or the older `source_ids`) as the caller's folders; None when neither was sent. An id that is
    not one of the organization's folders is a 422 naming the field."""
    field = "folder_ids" if data.get("folder_ids") is not None else "source_ids"
    raws = data.get(field)
    if raws is None:
        return None
    folders = []
    for raw in raws:
        try:
            folders.append(folder_or_404(request, raw))
        except NotFound:
            raise serializers.ValidationError({field: f"{raw} is not a folder of this organization"}) from None
    return folders


def agent_response(agent: Agent, *, code: int = status.HTTP_200_OK, loaded: bool = False) -> Response:
    """The agent's state; `loaded`: `agent` was read through `agents_with_relations` for this response."""
    fresh = agent if loaded else agents_with_relations(Agent.objects.filter(pk=agent.pk)).get()
    own = fresh.messages.filter(conversation__isnull=True)  # the agent's own history (conversations have theirs)
    ids = own.filter(in_context=True, seq__isnull=False).order_by("seq").values_list("id", flat=True)
    return Response(
        wire.agent_state(fresh, message_ids=list(ids), pending_approval=pending_approval(fresh)), status=code
    )


def pending_approval(agent: Agent) -> dict[str, Any] | None:
    """The approval_request_message of the agent's calls waiting for an answer (looked up only when its last
    run stopped to wait)."""
    if agent.last_stop_reason != StopReason.REQUIRES_APPROVAL or not pending_calls(agent=agent):
        return None
    held = agent.messages.filter(role=MessageRole.ASSISTANT, seq__isnull=False).order_by("-seq").first()
    pieces = wire.message_to_wire(held) if held is not None else []
    return next((p for p in pieces if p["message_type"] == "approval_request_message"), None)


class MemoryBlockInput(S.Serializer[Any]):
    label = S.CharField()  # type: ignore[assignment]  # a Field attribute in the stubs
    value = S.CharField(allow_blank=True, required=False, default="")
    limit = S.IntegerField(required=False, allow_null=True, min_value=1)
    description = S.CharField(required=False, allow_null=True, allow_blank=True)
    read_only = S.BooleanField(required=False)  # type: ignore[assignment]  # a Field attribute in the stubs
    metadata = S.DictField(required=False, allow_null=True)
    tags = S.ListField(child=S.CharField(), required=False, allow_null=True)


class SecretsField(S.DictField):
    """Environment variable names to values, for the agent's custom tools."""

    child = S.CharField(allow_blank=True, trim_whitespace=False)


def _secrets(data: dict[str, Any]) -> dict[str, str] | None:
    """`secrets`, or the deprecated `tool_exec_environment_variables` (the SDK sends either): the whole new set."""
    if data.get("secrets") is not None:
        return dict(data["secrets"])
    if data.get("tool_exec_environment_variables") is not None:
        return dict(data["tool_exec_environment_variables"])
    return None


class AgentListCreateApi(ApiView):
    class InputSerializer(S.Serializer[Any]):
        name = S.CharField(required=False, allow_null=True, max_length=200)
        agent_type = S.CharField(required=False, allow_null=True)
        system = S.CharField(required=False, allow_null=True, allow_blank=True)
        description = S.CharField(required=False, allow_null=True, allow_blank=True)
        memory_blocks = MemoryBlockInput(many=True, required=False, allow_null=True)
        block_ids = S.ListField(child=S.CharField(), required=False, allow_null=True)
        tools = S.ListField(child=S.CharField(), required=False, allow_null=True)
        tool_ids = S.ListField(child=S.CharField(), required=False, allow_null=True)
        tool_rules = S.ListField(child=S.DictField(), required=False, allow_null=True)
        include_base_tools = S.BooleanField(required=False, default=True)
        include_base_tool_rules = S.BooleanField(required=False, allow_null=True, default=None)
        model = S.CharField(required=False, allow_null=True)
        embedding = S.CharField(required=False, allow_null=True)
        llm_config = S.DictField(required=False, allow_null=True)
        embedding_config = S.DictField(required=False, allow_null=True)
        model_settings = S.DictField(required=False, allow_null=True)
        context_window_limit = S.IntegerField(required=False, allow_null=True)
        max_tokens = S.IntegerField(required=False, allow_null=True, min_value=1)
        compaction_settings = S.DictField(required=False, allow_null=True)
        tags = S.ListField(child=S.CharField(), required=False, allow_null=True)
        metadata = S.DictField(required=False, allow_null=True)
        timezone = S.CharField(required=False, allow_null=True)
        secrets = SecretsField(required=False, allow_null=True)
        tool_exec_environment_variables = SecretsField(required=False, allow_null=True)
        identity_ids = S.ListField(child=S.CharField(), required=False, allow_null=True)
        folder_ids = S.ListField(child=S.CharField(), required=False, allow_null=True)
        source_ids = S.ListField(child=S.CharField(), required=False, allow_null=True)

    class FilterSerializer(CursorParams):
        order = S.ChoiceField(choices=["asc", "desc"], required=False, default="desc")
        ascending = S.BooleanField(required=False, allow_null=True, default=None)
        name = S.CharField(required=False, allow_null=True)
        tags = S.ListField(child=S.CharField(), required=False, allow_null=True)
        match_all_tags = S.BooleanField(required=False, default=False)
        query_text = S.CharField(required=False, allow_null=True)
        identity_id = S.CharField(required=False, allow_null=True)
        identifier_keys = S.ListField(child=S.CharField(), required=False, allow_null=True)

    @extend_schema(
        operation_id="list_agents", parameters=[FilterSerializer], responses={200: AgentStateSchema(many=True)}
    )
    def get(self, request: Request) -> Response:
        params = validated(self.FilterSerializer, request.query_params)
        order = params["order"]
        if "order" not in request.query_params and params["ascending"] is not None:
            order = "asc" if params["ascending"] else "desc"
        qs = agent_list(
            actor=api_actor(request),
            name=params.get("name"),
            tags=params.get("tags"),
            match_all_tags=params["match_all_tags"],
            query_text=params.get("query_text"),
            identity_id=cursor_id("identity", params.get("identity_id"), field="identity_id"),
            identifier_keys=params.get("identifier_keys"),
        )
        page = paginate(
            agents_with_relations(qs),
            prefix="agent",
            after=params.get("after"),
            before=params.get("before"),
            limit=params.get("limit"),
            order=order,
        )
        return Response([wire.agent_state(a) for a in page])

    @extend_schema(operation_id="create_agent", request=InputSerializer, responses={201: AgentStateSchema})
    @transaction.atomic
    def post(self, request: Request) -> Response:
        data = validated(self.InputSerializer, request.data)
        blocks = [{k: v for k, v in b.items() if v is not None} for b in data.get("memory_blocks") or []]
        folders = _folders(request, data)
        agent = agent_create(
            actor=api_actor(request),
            name=data.get("name"),
            agent_type=data.get("agent_type"),
            system=data.get("system"),
            description=data.get("description"),
            model=model_handle_from_letta(data),
            embedding=embedding_handle_from_letta(data),
            memory_blocks=blocks,
            block_ids=bare_ids("block", data.get("block_ids"), field="block_ids"),
            tools=data.get("tools"),
            tool_ids=bare_ids("tool", data.get("tool_ids"), field="tool_ids"),
            include_base_tools=data["include_base_tools"],
            include_base_tool_rules=data.get("include_base_tool_rules"),
            tool_rules=data.get("tool_rules"),
            tags=data.get("tags"),
            metadata=data.get("metadata"),
            context_window_limit=context_window_from_letta(data),
            model_settings=model_settings_from_letta(
                data, model=model_handle_from_letta(data) or settings.ENGRAM_DEFAULT_MODEL
            ),
            compaction_settings=data.get("compaction_settings"),
            timezone=data.get("timezone"),
            secrets=_secrets(data),
            identity_ids=bare_ids("identity", data.get("identity_ids"), field="identity_ids"),
        )
        if folders is not None:
            agent_folders_set(agent=agent, folders=folders)
        # Letta answers 200 here; the SDKs accept any 2xx.
        return agent_response(agent)


class AgentCountApi(ApiView):
    @extend_schema(operation_id="count_agents", responses={200: OpenApiTypes.INT})
    def get(self, request: Request) -> Response:
        return Response(agent_list(actor=api_actor(request)).count())


class AgentDetailApi(ApiView):
    class InputSerializer(S.Serializer[Any]):
        name = S.CharField(required=False, max_length=200)
        description = S.CharField(required=False, allow_blank=True, allow_null=True)
        system = S.CharField(required=False, allow_blank=True)
        model = S.CharField(required=False)
        embedding = S.CharField(required=False)
        llm_config = S.DictField(required=False, allow_null=True)
        embedding_config = S.DictField(required=False, allow_null=True)
        model_settings = S.DictField(required=False, allow_null=True)
        context_window_limit = S.IntegerField(required=False, allow_null=True)
        max_tokens = S.IntegerField(required=False, allow_null=True, min_value=1)
        compaction_settings = S.DictField(required=False, allow_null=True)
        tags = S.ListField(child=S.CharField(), required=False)
        metadata = S.DictField(required=False)
        tool_rules = S.ListField(child=S.DictField(), required=False)
        timezone = S.CharField(required=False)
        block_ids = S.ListField(child=S.CharField(), required=False)
        tool_ids = S.ListField(child=S.CharField(), required=False)
        secrets = SecretsField(required=False, allow_null=True)
        tool_exec_environment_variables = SecretsField(required=False, allow_null=True)
        include_base_tool_rules = S.BooleanField(required=False, allow_null=True)
        identity_ids = S.ListField(child=S.CharField(), required=False, allow_null=True)
        folder_ids = S.ListField(child=S.CharField(), required=False, allow_null=True)
        source_ids = S.ListField(child=S.CharField(), required=False, allow_null=True)

    @extend_schema(operation_id="retrieve_agent", responses={200: AgentStateSchema})
    def get(self, request: Request, agent_id: str) -> Response:
        scoped = Agent.objects.filter(organization_id=organization_id_for(api_actor(request)))
        with not_found("Agent", agent_id):
            agent = agents_with_relations(scoped.filter(pk=parse_id("agent", agent_id))).get()
        return agent_response(agent, loaded=True)

    @extend_schema(operation_id="modify_agent", request=InputSerializer, responses={200: AgentStateSchema})
    def patch(self, request: Request, agent_id: str) -> Response:
        agent = agent_or_404(request, agent_id)
        data = validated(self.InputSerializer, request.data, partial=True)
        changes = present(
            data,
            "name",
            "system",
            "tags",
            "metadata",
            "tool_rules",
            "timezone",
            "compaction_settings",
            "include_base_tool_rules",
        )
        if "description" in data:
            changes["description"] = data["description"] or ""
        if model_handle_from_letta(data):
            changes["model"] = model_handle_from_letta(data)
        if embedding_handle_from_letta(data):
            changes["embedding"] = embedding_handle_from_letta(data)
        window = context_window_from_letta(data)
        if window is not None:
            changes["context_window_limit"] = window
        given = model_settings_from_letta(data, model=model_handle_from_letta(data) or agent.model)
        if given is not None:
            stored = dict(agent.model_settings or {})
            if stored.get("api_base") and not api_base_allowed(str(stored["api_base"])):
                stored.pop("api_base")  # written before the operator's rule; never used, so not kept
            changes["model_settings"] = {**stored, **given}
        if "block_ids" in data:
            changes["block_ids"] = bare_ids("block", data["block_ids"], field="block_ids")
        if "tool_ids" in data:
            changes["tool_ids"] = bare_ids("tool", data["tool_ids"], field="tool_ids")
        if data.get("identity_ids") is not None:
            changes["identity_ids"] = bare_ids("identity", data["identity_ids"], field="identity_ids")
        changes["secrets"] = _secrets(data)
        changes = {k: v for k, v in changes.items() if v is not None}
        folders = _folders(request, data)
        with transaction.atomic():
            updated = agent_update(agent=agent, **changes)
            if folders is not None:
                agent_folders_set(agent=updated, folders=folders)
        return agent_response(updated)

    @extend_schema(operation_id="delete_agent", responses={200: None})
    def delete(self, request: Request, agent_id: str) -> Response:
        agent_delete(agent=agent_or_404(request, agent_id))
        return Response(None)


class AgentRecompileApi(ApiView):
    class FilterSerializer(S.Serializer[Any]):
        dry_run = S.BooleanField(required=False, default=False)
        update_timestamp = S.BooleanField(required=False, default=False)

    @extend_schema(
        operation_id="recompile_agent",
        parameters=[FilterSerializer],
        request=None,
        responses={(200, "text/plain"): OpenApiTypes.STR},
    )
    def post(self, request: Request, agent_id: str) -> HttpResponse:
        """Rebuild the agent's compiled system prompt from its current memory and answer it as plain text (the
        SDKs read this response as a string). `dry_run` compiles without storing. `update_timestamp` is accepted
        and has no effect: Engram's prompt carries no memory-edit timestamp."""
        agent = agent_or_404(request, agent_id)
        params = validated(self.FilterSerializer, request.query_params)
        compiled = agent_recompile(agent=agent, dry_run=params["dry_run"])
        return HttpResponse(compiled, content_type="text/plain; charset=utf-8")


class AgentContextApi(ApiView):
    @extend_schema(operation_id="retrieve_agent_context_window", responses={200: ContextWindowSchema})
    def get(self, request: Request, agent_id: str) -> Response:
        """The context window as the next request would send it: token counts by section, the system prompt, core
        memory, memory metadata, summary, tool schemas and in-context messages (the ADE's Context panel)."""
        return Response(context_window_overview(agent_or_404(request, agent_id)))


class AgentCoreMemoryApi(ApiView):
    @extend_schema(operation_id="retrieve_agent_memory", responses={200: MemorySchema})
    def get(self, request: Request, agent_id: str) -> Response:
        """Deprecated Memory object ({agent_type, blocks, file_blocks, …}); the blocks routes replace it."""
        agent = agent_or_404(request, agent_id)
        blocks = Block.objects.filter(agentblock__agent=agent).order_by("agentblock__created_at", "agentblock__id")
        return Response(wire.memory_to_wire(agent, [wire.block_to_wire(b) for b in blocks]))


class TagListApi(ApiView):
    class FilterSerializer(S.Serializer[Any]):
        after = S.CharField(required=False, allow_null=True)
        before = S.CharField(required=False, allow_null=True)
        limit = S.IntegerField(required=False, allow_null=True, min_value=1, max_value=1000, default=50)
        order = S.ChoiceField(choices=["asc", "desc"], required=False, default="asc")
        order_by = S.ChoiceField(choices=["name"], required=False, default="name")
        name = S.CharField(required=False, allow_null=True)
        query_text = S.CharField(required=False, allow_null=True)

    @extend_schema(
        operation_id="list_tags", parameters=[FilterSerializer], responses={200: S.ListSerializer(child=S.CharField())}
    )
    def get(self, request: Request) -> Response:
        """Tags of the organization's agents, paged by tag (`after`/`before` are tags)."""
        params = validated(self.FilterSerializer, request.query_params)
        tags = sorted({t for a in agent_list(actor=api_actor(request)).prefetch_related("tag_rows") for t in _tags(a)})
        if params.get("name"):
            tags = [t for t in tags if t == params["name"]]
        if params.get("query_text"):
            tags = [t for t in tags if params["query_text"].lower() in t.lower()]
        if params["order"] == "desc":
            tags.reverse()
        ahead = params["order"] == "asc"
        if params.get("after"):
            tags = [t for t in tags if (t > params["after"]) == ahead and t != params["after"]]
        if params.get("before"):
            tags = [t for t in tags if (t < params["before"]) == ahead and t != params["before"]]
        return Response(tags[: params.get("limit") or 50])


def _tags(agent: Agent) -> list[str]:
    return [row.tag for row in agent.tag_rows.all()]


class AgentSecretListApi(ApiView):
    @extend_schema(operation_id="list_agent_secrets", responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request, agent_id: str) -> Response:
        """The agent's secrets (the environment of its custom tools) as AgentEnvironmentVariables, by key.
        letta-code reads them here; they are written through the agent's `secrets` on create and update."""
        agent = agent_or_404(request, agent_id)
        return Response([wire.secret_to_wire(row) for row in agent.secret_rows.order_by("key")])
