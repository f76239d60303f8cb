"""The /v1 routes (also mounted under /latest/ by config.urls). URL names keep the `agents:` and `memory:`
namespaces the SDK-facing routes always had; MCP servers' are `mcp:`."""

from django.urls import URLPattern, URLResolver, include, path
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularRedocView

from api.base import HealthView, ReadyView
from api.routes import slash_optional

api_patterns: list[URLPattern | URLResolver] = [
    *slash_optional("health/", HealthView.as_view(), "health"),
    *slash_optional("ready/", ReadyView.as_view(), "ready"),
    path("openapi.json", SpectacularJSONAPIView.as_view(), name="openapi-schema"),
    path(
        "docs/",
        SpectacularRedocView.as_view(url_name="openapi-schema", template_name="api_docs.html"),
        name="api-docs",
    ),
    path("", include("api.urls.memory")),
    path("", include("api.urls.agents")),
    path("", include("api.urls.mcp")),
    path("", include("api.urls.files")),
]
