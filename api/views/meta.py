"""What this server can call: the configured providers, their chat models, and embedding models."""

import uuid
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from api import wire
from api.base import ApiView, validated
from api.schemas import EmbeddingModelSchema, ModelSchema
from lib import catalogue, providers
from lib.ids import parse_id, public_id

# Provider ids are stable names, not rows: the server's providers come from its configuration.
_PROVIDER_IDS = uuid.UUID("5d3c1b51-2f7e-4f0e-9a57-0c5f3c8f4a11")

S = serializers


def model_to_wire(handle: str, window: int) -> dict[str, Any]:
    provider, name = catalogue.split_handle(handle)
    return {
        "handle": handle,
        "name": name,
        "display_name": name,
        "model": name,
        "model_type": "llm",
        "model_endpoint_type": catalogue.endpoint_type(provider),
        "model_endpoint": providers.endpoint_public(handle, {}),  # never the operator's internal base URL
        "provider_type": catalogue.endpoint_type(provider),
        "provider_name": provider,
        "provider_category": "base",
        "context_window": window,
        "max_context_window": window,
        "temperature": 0.7,
        "max_tokens": None,
        "parallel_tool_calls": False,
        "put_inner_thoughts_in_kwargs": False,
        "enable_reasoner": False,
    }


def embedding_to_wire(handle: str) -> dict[str, Any]:
    config = wire.embedding_config(handle) or {}
    provider, name = catalogue.split_handle(handle)
    return {
        **config,
        "name": name,
        "display_name": name,
        "model_type": "embedding",
        "provider_name": provider,
        "provider_type": catalogue.embedding_endpoint_type(provider),
    }


class ModelListApi(ApiView):
    class FilterSerializer(S.Serializer[Any]):
        provider_name = S.CharField(required=False, allow_null=True)
        provider_type = S.CharField(required=False, allow_null=True)
        provider_category = S.ListField(child=S.CharField(), required=False, allow_null=True)

    @extend_schema(operation_id="list_models", parameters=[FilterSerializer], responses={200: ModelSchema(many=True)})
    def get(self, request: Request) -> Response:
        params = validated(self.FilterSerializer, request.query_params)
        models = [model_to_wire(h, w) for h, w in sorted(catalogue.chat_models().items())]
        if params.get("provider_name"):
            models = [m for m in models if m["provider_name"] == params["provider_name"]]
        if params.get("provider_type"):
            models = [m for m in models if m["provider_type"] == params["provider_type"]]
        if params.get("provider_category"):
            models = [m for m in models if m["provider_category"] in params["provider_category"]]
        return Response(models)


class EmbeddingModelListApi(ApiView):
    @extend_schema(operation_id="list_embedding_models", responses={200: EmbeddingModelSchema(many=True)})
    def get(self, request: Request) -> Response:
        handles = catalogue.embedding_models()
        return Response([embedding_to_wire(h) for h in handles])


def provider_to_wire(name: str) -> dict[str, Any]:
    """Letta's Provider for one of the server's configured providers (a `base` provider: its key is the
    operator's and never shown)."""
    handle = next((h for h in catalogue.chat_models() if catalogue.split_handle(h)[0] == name), f"{name}/x")
    return {
        "id": public_id("provider", uuid.uuid5(_PROVIDER_IDS, name)),
        "name": name,
        "provider_type": catalogue.endpoint_type(name),
        "provider_category": "base",
        "base_url": providers.endpoint_public(handle, {}),
        "api_key": None,
        "access_key": None,
        "region": None,
        "api_version": None,
        "organization_id": None,
        "updated_at": None,
    }


class ProviderListApi(ApiView):
    class FilterSerializer(S.Serializer[Any]):
        name = S.CharField(required=False, allow_null=True)
        provider_type = S.CharField(required=False, allow_null=True)

    @extend_schema(operation_id="list_providers", parameters=[FilterSerializer], responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request) -> Response:
        """The providers this server is configured for. Engram keeps provider keys in the server's configuration
        only (no per-organization keys), so this list is read-only."""
        params = validated(self.FilterSerializer, request.query_params)
        out = [provider_to_wire(name) for name in catalogue.providers()]
        if params.get("name"):
            out = [p for p in out if p["name"] == params["name"]]
        if params.get("provider_type"):
            out = [p for p in out if p["provider_type"] == params["provider_type"]]
        return Response(out)


class ProviderDetailApi(ApiView):
    @extend_schema(operation_id="retrieve_provider", responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request, provider_id: str) -> Response:
        wanted = parse_id("provider", provider_id)
        for name in catalogue.providers():
            if uuid.uuid5(_PROVIDER_IDS, name) == wanted:
                return Response(provider_to_wire(name))
        raise NotFound(f"Provider {provider_id} not found")
