"""Folders: create, update, delete; attaching a folder to an agent (the agent's file views). Tools that come with
an attached folder are the agents app's business (agents.services.folders)."""

import uuid
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from files.models import AgentFolder, File, FileAgent, FileChunk, Folder
from lib.text import check_storable, check_text
from memory.embeddings import resolve_model

MAX_CHUNK_TOKENS = 8192


class FolderNameTaken(Exception):
    """Another folder of the organization has this name (a 409 in the API)."""


def _clean(fields: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("name", "description", "instructions"):
        if key in fields and fields[key] is not None:
            value = fields[key]
            if not isinstance(value, str):
                raise ValidationError({key: "must be a string"})
            check_text(value, key)
            out[key] = value
    if "name" in out:
        out["name"] = out["name"].strip()
        if not out["name"]:
            raise ValidationError({"name": "must not be empty"})
        if len(out["name"]) > 200:
            raise ValidationError({"name": "must be at most 200 characters"})
    if fields.get("metadata") is not None:
        if not isinstance(fields["metadata"], dict):
            raise ValidationError({"metadata": "must be an object"})
        check_storable(fields["metadata"], root="metadata")
        out["metadata"] = fields["metadata"]
    return out


def folder_create(
    *,
    organization_id: uuid.UUID,
    name: str,
    description: str | None = None,
    instructions: str | None = None,
    metadata: dict[str, Any] | None = None,
    embedding: str | None = None,
    embedding_chunk_size: int | None = None,
    created_by_id: int | None = None,
) -> Folder:
    fields = _clean({"name": name, "description": description, "instructions": instructions, "metadata": metadata})
    handle = resolve_model(embedding)
    if embedding is not None and not isinstance(embedding, str):
        raise ValidationError({"embedding": "must be a model handle"})
    chunk = embedding_chunk_size if embedding_chunk_size is not None else 300
    if not isinstance(chunk, int) or isinstance(chunk, bool) or not 32 <= chunk <= MAX_CHUNK_TOKENS:
        raise ValidationError({"embedding_chunk_size": f"must be an integer between 32 and {MAX_CHUNK_TOKENS}"})
    try:
        with transaction.atomic():
            return Folder.objects.create(
                organization_id=organization_id,
                embedding=handle,
                embedding_chunk_size=chunk,
                created_by_id=created_by_id,
                last_updated_by_id=created_by_id,
                **fields,
            )
    except IntegrityError:
        raise FolderNameTaken(f"A folder named {fields['name']!r} already exists") from None


def folder_update(*, folder: Folder, updated_by_id: int | None = None, **changes: Any) -> Folder:
    fields = _clean(changes)
    if not fields:
        return folder
    for key, value in fields.items():
        setattr(folder, key, value)
    folder.last_updated_by_id = updated_by_id
    try:
        with transaction.atomic():
            folder.save(update_fields=[*fields, "last_updated_by", "updated_at"])
    except IntegrityError:
        raise FolderNameTaken(f"A folder named {fields['name']!r} already exists") from None
    return folder


def folder_delete(*, folder: Folder) -> list[uuid.UUID]:
    """Delete the folder, its files and their chunks; returns the agents it was attached to (their system
    prompts show its files, so they must be recompiled: the caller's business)."""
    with transaction.atomic():
        agent_ids = list(AgentFolder.objects.filter(folder=folder).values_list("agent_id", flat=True))
        FileChunk.objects.filter(folder=folder).delete()
        folder.delete()
    return agent_ids


def folder_attach(*, agent_id: uuid.UUID, organization_id: uuid.UUID, folder: Folder) -> bool:
    """Attach (idempotent; False when it already was): a closed view of every file of the folder."""
    if folder.organization_id != organization_id:
        raise ValueError("folder of another organization")
    with transaction.atomic():
        _, created = AgentFolder.objects.get_or_create(
            agent_id=agent_id, folder=folder, defaults={"organization_id": organization_id}
        )
        file_ids = list(File.objects.filter(folder=folder).values_list("id", flat=True))
        have = set(FileAgent.objects.filter(agent_id=agent_id, file_id__in=file_ids).values_list("file_id", flat=True))
        FileAgent.objects.bulk_create(
            [
                FileAgent(organization_id=organization_id, agent_id=agent_id, file_id=fid, folder=folder)
                for fid in file_ids
                if fid not in have
            ]
        )
    return created


def folder_detach(*, agent_id: uuid.UUID, folder: Folder) -> bool:
    """Detach (False when it was not attached); the agent's views of the folder's files go with it."""
    with transaction.atomic():
        deleted, _ = AgentFolder.objects.filter(agent_id=agent_id, folder=folder).delete()
        FileAgent.objects.filter(agent_id=agent_id, folder=folder).delete()
    return bool(deleted)


def views_for_new_file(*, file: File) -> None:
    """A closed view of a new file for every agent its folder is attached to."""
    agent_ids = AgentFolder.objects.filter(folder_id=file.folder_id).values_list("agent_id", flat=True)
    FileAgent.objects.bulk_create(
        [
            FileAgent(organization_id=file.organization_id, agent_id=aid, file=file, folder_id=file.folder_id)
            for aid in agent_ids
        ],
        ignore_conflicts=True,
    )
