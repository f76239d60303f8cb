"""Reads of folders, files and agents' file views, always scoped to the actor's organization (another
organization's row is DoesNotExist). Agents are named by id: files never imports agents."""

import uuid

from django.contrib.auth.models import User
from django.db.models import QuerySet

from accounts.selectors import organization_id_for
from files.models import AgentFolder, File, FileAgent, FileChunk, Folder


def folder_queryset(*, actor: User) -> QuerySet[Folder]:
    return Folder.objects.filter(organization_id=organization_id_for(actor))


def folder_get(*, actor: User, folder_id: uuid.UUID) -> Folder:
    return folder_queryset(actor=actor).get(pk=folder_id)


def file_queryset(*, actor: User, folder_id: uuid.UUID | None = None) -> QuerySet[File]:
    qs = File.objects.filter(organization_id=organization_id_for(actor)).defer("raw", "content")
    return qs if folder_id is None else qs.filter(folder_id=folder_id)


def file_get(*, actor: User, file_id: uuid.UUID, folder_id: uuid.UUID | None = None, content: bool = False) -> File:
    qs = File.objects.filter(organization_id=organization_id_for(actor)).defer("raw")
    if not content:
        qs = qs.defer("raw", "content")
    if folder_id is not None:
        qs = qs.filter(folder_id=folder_id)
    return qs.get(pk=file_id)


def folder_agent_ids(*, actor: User, folder_id: uuid.UUID) -> list[uuid.UUID]:
    return list(
        AgentFolder.objects.filter(organization_id=organization_id_for(actor), folder_id=folder_id)
        .order_by("created_at", "id")
        .values_list("agent_id", flat=True)
    )


def agent_folders(*, agent_id: uuid.UUID, organization_id: uuid.UUID) -> QuerySet[Folder]:
    """The folders attached to an agent the caller already holds (reached through agents' selectors)."""
    return Folder.objects.filter(organization_id=organization_id, agent_links__agent_id=agent_id).order_by(
        "agent_links__created_at", "agent_links__id"
    )


def agent_file_views(*, agent_id: uuid.UUID, organization_id: uuid.UUID) -> QuerySet[FileAgent]:
    """The agent's view of every file of its attached folders (rows are made on attach and on completion)."""
    return (
        FileAgent.objects.filter(organization_id=organization_id, agent_id=agent_id)
        .select_related("file", "folder")
        .defer("file__raw", "file__content")
    )


def folder_chunks(*, actor: User, folder_id: uuid.UUID) -> QuerySet[FileChunk]:
    return FileChunk.objects.filter(organization_id=organization_id_for(actor), folder_id=folder_id).defer("embedding")
