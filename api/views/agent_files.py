"""Agent files (`.af`): export one agent, import a file as new agents (api.agent_files)."""

import json
from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework import parsers, serializers
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.http import api_actor
from agents.models import Agent
from api.agent_files import ImportOptions, agent_export, agent_file_name, agent_file_read, agent_import
from api.base import ApiView, validated
from api.lookups import JSONAnyField, agent_or_404
from lib.ids import public_id
from lib.text import json_parse

S = serializers


class AgentFileSchema(S.Serializer[Any]):
    """The agent file (documented loosely: its entities are Letta's shapes plus `engram` extension objects)."""

    agents = S.ListField(child=S.DictField())
    groups = S.ListField(child=S.DictField())
    blocks = S.ListField(child=S.DictField())
    files = S.ListField(child=S.DictField())
    sources = S.ListField(child=S.DictField())
    tools = S.ListField(child=S.DictField())
    mcp_servers = S.ListField(child=S.DictField())
    skills = S.ListField(child=S.DictField())
    metadata = S.DictField()
    created_at = S.DateTimeField()


class ExportParams(S.Serializer[Any]):
    scrub_messages = S.BooleanField(required=False, default=False)
    use_legacy_format = S.BooleanField(required=False, default=False)
    conversation_id = S.CharField(required=False, allow_null=True, allow_blank=True)
    max_steps = S.IntegerField(required=False, allow_null=True)


def _export_response(agent: Agent, params: dict[str, Any]) -> HttpResponse:
    if params.get("conversation_id"):
        raise S.ValidationError({"conversation_id": "conversations are not supported; export the agent's history"})
    document = agent_export(agent=agent, include_messages=not params["scrub_messages"])
    response = HttpResponse(json.dumps(document, indent=2, ensure_ascii=False), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="{agent_file_name(agent)}"'
    return response


class AgentExportApi(ApiView):
    class InputSerializer(ExportParams):
        skills = S.ListField(child=JSONAnyField(), required=False, allow_null=True)

    @extend_schema(operation_id="export_agent", parameters=[ExportParams], responses={200: AgentFileSchema})
    def get(self, request: Request, agent_id: str) -> HttpResponse:
        """The agent file: the agent, its blocks, tools, messages (in-context ids kept) and archival passages.
        `use_legacy_format` and `max_steps` are accepted and ignored (always the multi-entity format)."""
        agent = agent_or_404(request, agent_id)
        return _export_response(agent, validated(ExportParams, request.query_params))

    @extend_schema(operation_id="export_agent_with_skills", request=InputSerializer, responses={200: AgentFileSchema})
    def post(self, request: Request, agent_id: str) -> HttpResponse:
        """As GET, with the options in a JSON body. `skills` is accepted and ignored (Engram has no skills)."""
        agent = agent_or_404(request, agent_id)
        return _export_response(agent, validated(self.InputSerializer, request.data))


def _secrets_json(data: dict[str, Any]) -> dict[str, str] | None:
    field = "secrets" if data.get("secrets") else "env_vars_json"
    raw = data.get(field)
    if not raw:
        return None
    value = json_parse(raw, field)
    if not isinstance(value, dict):
        raise ValidationError({field: "must be a JSON object of environment variable names to values"})
    return value


def mcp_credentials_json(raw: str | None) -> dict[str, Any] | None:
    if not raw:
        return None
    value = json_parse(raw, "mcp_credentials")
    if not isinstance(value, dict):
        raise ValidationError({"mcp_credentials": "must be a JSON object of MCP server names to credentials"})
    return value


class AgentImportApi(ApiView):
    parser_classes = [parsers.MultiPartParser, parsers.FormParser]

    class InputSerializer(S.Serializer[Any]):
        file = S.FileField(allow_empty_file=True)
        append_copy_suffix = S.BooleanField(required=False, default=False)
        override_existing_tools = S.BooleanField(required=False, default=False)
        strip_messages = S.BooleanField(required=False, default=False)
        name = S.CharField(required=False, allow_null=True, allow_blank=True, max_length=200)
        override_name = S.CharField(required=False, allow_null=True, allow_blank=True, max_length=200)
        model = S.CharField(required=False, allow_null=True, allow_blank=True)
        override_model_handle = S.CharField(required=False, allow_null=True, allow_blank=True)
        embedding = S.CharField(required=False, allow_null=True, allow_blank=True)
        override_embedding_handle = S.CharField(required=False, allow_null=True, allow_blank=True)
        # Secrets for the imported agents' tools, a JSON object as a string (`env_vars_json` is the older name).
        secrets = S.CharField(required=False, allow_null=True, allow_blank=True)
        env_vars_json = S.CharField(required=False, allow_null=True, allow_blank=True)
        # Credentials of the file's MCP servers (Engram), a JSON object as a string:
        # {"<server name>": {"env": {…}, "auth_token": "…", "custom_headers": {…}}}.
        mcp_credentials = S.CharField(required=False, allow_null=True, allow_blank=True)
        # Accepted and ignored: Engram has no projects.
        project_id = S.CharField(required=False, allow_null=True, allow_blank=True)

    class OutputSerializer(S.Serializer[Any]):
        agent_ids = S.ListField(child=S.CharField())

    @extend_schema(
        operation_id="import_agent",
        request={"multipart/form-data": InputSerializer},
        responses={200: OutputSerializer},
    )
    def post(self, request: Request) -> Response:
        """Create the file's agents in the caller's organization, with fresh ids. All or nothing."""
        data = validated(self.InputSerializer, request.data)
        options = ImportOptions(
            name=data.get("name") or data.get("override_name") or None,
            append_copy_suffix=data["append_copy_suffix"],
            override_existing_tools=data["override_existing_tools"],
            strip_messages=data["strip_messages"],
            model=data.get("model") or data.get("override_model_handle") or None,
            embedding=data.get("embedding")
            or data.get("override_embedding_handle")
            or request.headers.get("x-override-embedding-model")
            or None,
            secrets=_secrets_json(data),
            mcp_credentials=mcp_credentials_json(data.get("mcp_credentials")),
        )
        document = agent_file_read(upload=data["file"])
        agents = agent_import(actor=api_actor(request), data=document, options=options)
        return Response({"agent_ids": [public_id("agent", a.id) for a in agents]})
