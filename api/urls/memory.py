from django.urls import URLPattern, path

from api.routes import slash_optional
from api.views.blocks import BlockCountApi, BlockDetailApi, BlockListCreateApi

app_name = "memory"

urlpatterns: list[URLPattern] = [
    *slash_optional("blocks/", BlockListCreateApi.as_view(), "block-list"),
    path("blocks/count", BlockCountApi.as_view(), name="block-count"),
    path("blocks/<str:block_id>", BlockDetailApi.as_view(), name="block-detail"),
]
