from django.urls import URLPattern, path

from api.routes import slash_optional
from api.views.archives import (
    ArchiveDetailApi,
    ArchiveListCreateApi,
    ArchivePassageBatchApi,
    ArchivePassageDetailApi,
    ArchivePassagesApi,
    PassageSearchOrganizationApi,
)
from api.views.blocks import BlockCountApi, BlockDetailApi, BlockListCreateApi

app_name = "memory"

urlpatterns: list[URLPattern] = [
    *slash_optional("blocks/", BlockListCreateApi.as_view(), "block-list"),
    path("blocks/count", BlockCountApi.as_view(), name="block-count"),
    path("blocks/<str:block_id>", BlockDetailApi.as_view(), name="block-detail"),
    *slash_optional("archives/", ArchiveListCreateApi.as_view(), "archive-list"),
    path("archives/<str:archive_id>", ArchiveDetailApi.as_view(), name="archive-detail"),
    path("archives/<str:archive_id>/passages", ArchivePassagesApi.as_view(), name="archive-passages"),
    path("archives/<str:archive_id>/passages/batch", ArchivePassageBatchApi.as_view(), name="archive-passages-batch"),
    path(
        "archives/<str:archive_id>/passages/<str:passage_id>",
        ArchivePassageDetailApi.as_view(),
        name="archive-passage-detail",
    ),
    path("passages/search", PassageSearchOrganizationApi.as_view(), name="passages-search"),
]
