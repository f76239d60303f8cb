from django.contrib import admin
from django.urls import include, path

from api.urls import api_patterns

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("v1/", include(api_patterns)),
    # Letta's server also mounts every router under /latest/.
    path("latest/", include((api_patterns, "latest"))),
    path("", include("ade.urls")),
]
