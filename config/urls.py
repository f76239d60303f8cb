from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularRedocView

from config.api import HealthView, ReadyView
from config.routes import slash_optional

api_patterns: list[URLPattern | URLResolver] = [
    *slash_optional("health/", HealthView.as_view(), "health"),
    *slash_optional("ready/", ReadyView.as_view(), "ready"),
    path("openapi.json", SpectacularJSONAPIView.as_view(), name="openapi-schema"),
    path(
        "docs/",
        SpectacularRedocView.as_view(url_name="openapi-schema", template_name="api_docs.html"),
        name="api-docs",
    ),
    path("", include("memory.urls")),
    path("", include("agents.urls")),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("v1/", include(api_patterns)),
    # Letta's server also mounts every router under /latest/.
    path("latest/", include((api_patterns, "latest"))),
    path("", include("ade.urls")),
]
