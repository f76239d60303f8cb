from django.urls import URLPattern, path

from api.routes import slash_optional
from api.views.agent_folders import (
    AgentFileCloseAllApi,
    AgentFileCloseApi,
    AgentFileListApi,
    AgentFileOpenApi,
    AgentFolderAttachApi,
    AgentFolderDetachApi,
    AgentFolderListApi,
)
from api.views.folders import (
    FolderAgentsApi,
    FolderByNameApi,
    FolderCountApi,
    FolderDetailApi,
    FolderFileDeleteApi,
    FolderFileDetailApi,
    FolderFileListApi,
    FolderListCreateApi,
    FolderMetadataApi,
    FolderPassagesApi,
    FolderUploadApi,
)

app_name = "files"

urlpatterns: list[URLPattern] = [
    *slash_optional("folders/", FolderListCreateApi.as_view(), "folder-list"),
    path("folders/count", FolderCountApi.as_view(), name="folder-count"),
    path("folders/metadata", FolderMetadataApi.as_view(), name="folder-metadata"),
    path("folders/name/<str:folder_name>", FolderByNameApi.as_view(), name="folder-by-name"),
    path("folders/<str:folder_id>", FolderDetailApi.as_view(), name="folder-detail"),
    *slash_optional("folders/<str:folder_id>/upload", FolderUploadApi.as_view(), "folder-upload"),
    *slash_optional("folders/<str:folder_id>/files", FolderFileListApi.as_view(), "folder-files"),
    path("folders/<str:folder_id>/files/<str:file_id>", FolderFileDetailApi.as_view(), name="folder-file-detail"),
    *slash_optional("folders/<str:folder_id>/agents", FolderAgentsApi.as_view(), "folder-agents"),
    *slash_optional("folders/<str:folder_id>/passages", FolderPassagesApi.as_view(), "folder-passages"),
    path("folders/<str:folder_id>/<str:file_id>", FolderFileDeleteApi.as_view(), name="folder-file-delete"),
    *slash_optional("agents/<str:agent_id>/folders", AgentFolderListApi.as_view(), "agent-folders"),
    path(
        "agents/<str:agent_id>/folders/attach/<str:folder_id>",
        AgentFolderAttachApi.as_view(),
        name="agent-folder-attach",
    ),
    path(
        "agents/<str:agent_id>/folders/detach/<str:folder_id>",
        AgentFolderDetachApi.as_view(),
        name="agent-folder-detach",
    ),
    *slash_optional("agents/<str:agent_id>/files", AgentFileListApi.as_view(), "agent-files"),
    path("agents/<str:agent_id>/files/close-all", AgentFileCloseAllApi.as_view(), name="agent-files-close-all"),
    path("agents/<str:agent_id>/files/<str:file_id>/open", AgentFileOpenApi.as_view(), name="agent-file-open"),
    path("agents/<str:agent_id>/files/<str:file_id>/close", AgentFileCloseApi.as_view(), name="agent-file-close"),
]
