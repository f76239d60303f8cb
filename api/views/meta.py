"""What this server can call: chat models of the configured providers, and embedding models."""

import os
from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from api import wire
from api.base import ApiView, validated
from api.schemas import EmbeddingModelSchema, ModelSchema
from lib import providers

S = serializers

# Well-known chat models per provider, offered when that provider is configured (its key or base URL is set).
# Any other litellm handle works too when given to an agent; this list is what pickers show.
PROVIDER_MODELS: dict[str, tuple[tuple[str, ...], dict[str, int]]] = {
    "openai": (
        ("OPENAI_API_KEY", "OPENAI_API_BASE"),
        {"gpt-4o-mini": 128_000, "gpt-4o": 128_000, "gpt-4.1": 1_047_576, "gpt-4.1-mini": 1_047_576},
    ),
    "anthropic": (
        ("ANTHROPIC_API_KEY",),
        {"claude-sonnet-4-5": 200_000, "claude-haiku-4-5": 200_000},
    ),
    "gemini": (("GEMINI_API_KEY",), {"gemini-2.5-flash": 1_048_576, "gemini-2.5-pro": 1_048_576}),
    "groq": (("GROQ_API_KEY",), {"llama-3.3-70b-versatile": 131_072}),
    "mistral": (("MISTRAL_API_KEY",), {"mistral-large-latest": 131_072}),
    "deepseek": (("DEEPSEEK_API_KEY",), {"deepseek-chat": 65_536}),
    "ollama": (("OLLAMA_API_BASE",), {}),
}
EMBEDDING_MODELS = {
    "openai": ("openai/text-embedding-3-small", "openai/text-embedding-3-large"),
}
LOCAL_EMBEDDING = "local/all-minilm-l6-v2-int8"


def _configured(provider: str) -> bool:
    names, _ = PROVIDER_MODELS[provider]
    return any(os.environ.get(name) or getattr(settings, name, None) for name in names)


def model_handles() -> dict[str, int]:
    handles: dict[str, int] = {}
    for provider, (_, models) in PROVIDER_MODELS.items():
        if _configured(provider):
            handles.update({f"{provider}/{name}": window for name, window in models.items()})
    handles.setdefault(settings.ENGRAM_DEFAULT_MODEL, 128_000)
    return handles


def model_to_wire(handle: str, window: int) -> dict[str, Any]:
    provider, _, name = handle.partition("/")
    return {
        "handle": handle,
        "name": name,
        "display_name": name,
        "model": name,
        "model_type": "llm",
        "model_endpoint_type": wire.ENDPOINT_TYPES.get(provider, "openai"),
        "model_endpoint": providers.endpoint_public(handle, {}),  # never the operator's internal base URL
        "provider_type": wire.ENDPOINT_TYPES.get(provider, "openai"),
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
    provider, _, name = handle.partition("/")
    return {
        **config,
        "name": name,
        "display_name": name,
        "model_type": "embedding",
        "provider_name": provider,
        "provider_type": "hugging-face" if provider == "local" else config.get("embedding_endpoint_type", "openai"),
    }


class ModelListApi(ApiView):
    class FilterSerializer(S.Serializer[Any]):
        provider_name = S.CharField(required=False, allow_null=True)
        provider_type = S.CharField(required=False, allow_null=True)
        provider_category = S.ListField(child=S.CharField(), required=False, allow_null=True)

    @extend_schema(operation_id="list_models", parameters=[FilterSerializer], responses={200: ModelSchema(many=True)})
    def get(self, request: Request) -> Response:
        params = validated(self.FilterSerializer, request.query_params)
        models = [model_to_wire(h, w) for h, w in sorted(model_handles().items())]
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
        handles = [LOCAL_EMBEDDING]
        for provider, names in EMBEDDING_MODELS.items():
            if _configured(provider):
                handles += list(names)
        if settings.ENGRAM_DEFAULT_EMBEDDING not in handles:
            handles.append(settings.ENGRAM_DEFAULT_EMBEDDING)
        return Response([embedding_to_wire(h) for h in handles])
