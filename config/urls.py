from django.contrib import admin
from django.urls import include, path

from api.metrics import metrics_view
from api.urls import api_patterns

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("metrics", metrics_view, name="metrics"),  # Prometheus (api/metrics.py)
    path("v1/", include(api_patterns)),
    # Letta's server also mounts every router under /latest/.
    path("latest/", include((api_patterns, "latest"))),
    path("", include("ade.urls")),
]
# A database out of reach is a 503 with Retry-After, not a 500 (config/errors.py).
handler500 = "config.errors.server_error"
