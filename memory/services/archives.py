"""Shared archives: archival stores that several agents of one organization attach. Their passages are written
with memory.services.passages (archive=...) and searched with each attached agent's own (memory.search)."""

from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts.selectors import organization_id_for
from lib.providers import handle_clean
from memory.models import Archive, ArchiveAttachment
from memory.types import AgentLike

MAX_NAME_CHARS = 200
MAX_DESCRIPTION_CHARS = 10_000


def _clean_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValidationError({"name": "must be a non-empty string"})
    if len(name) > MAX_NAME_CHARS:
        raise ValidationError({"name": f"must be at most {MAX_NAME_CHARS} characters"})
    return name


def _clean_description(description: object) -> str:
    if description is None:
        return ""
    if not isinstance(description, str):
        raise ValidationError({"description": "must be a string"})
    if len(description) > MAX_DESCRIPTION_CHARS:
        raise ValidationError({"description": f"must be at most {MAX_DESCRIPTION_CHARS} characters"})
    return description


def archive_create(
    *,
    actor: User,
    name: str,
    description: str | None = None,
    embedding: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> Archive:
    """A new, empty archive of the actor's organization. `embedding` is a model handle ('' or None = the server
    default); an unknown handle is a ValidationError naming `embedding`."""
    handle = (embedding or "").strip() if isinstance(embedding, str | None) else None
    if handle is None or len(handle) > MAX_NAME_CHARS:
        raise ValidationError({"embedding": f"must be a model handle of at most {MAX_NAME_CHARS} characters"})
    handle = handle_clean(handle, field="embedding")
    if metadata is not None and not isinstance(metadata, dict):
        raise ValidationError({"metadata": "must be an object"})
    return Archive.objects.create(
        organization_id=organization_id_for(actor),
        name=_clean_name(name),
        description=_clean_description(description),
        embedding=handle,
        metadata=metadata or {},
        created_by=actor,
        last_updated_by=actor,
    )


def archive_update(
    *, actor: User, archive: Archive, name: str | None = None, description: str | None = None
) -> Archive:
    fields = ["last_updated_by", "updated_at"]
    if name is not None:
        archive.name = _clean_name(name)
        fields.append("name")
    if description is not None:
        archive.description = _clean_description(description)
        fields.append("description")
    archive.last_updated_by = actor
    archive.save(update_fields=fields)
    return archive


def archive_delete(*, archive: Archive) -> None:
    """The archive, its passages and its attachments (the agents stay)."""
    archive.delete()


def archive_attach(*, archive: Archive, agent: AgentLike) -> bool:
    """Attach (idempotent: False when it already was). Both must be of one organization."""
    if archive.organization_id != agent.organization_id:
        raise ValidationError({"archive_id": "is not an archive of this organization"})
    if ArchiveAttachment.objects.filter(archive=archive, agent_id=agent.id).exists():
        return False
    try:
        with transaction.atomic():
            ArchiveAttachment.objects.create(archive=archive, agent_id=agent.id)
    except IntegrityError:  # attached concurrently
        return False
    return True


def archive_detach(*, archive: Archive, agent: AgentLike) -> bool:
    """Detach (False when it was not attached). The archive and its passages stay."""
    deleted, _ = ArchiveAttachment.objects.filter(archive=archive, agent_id=agent.id).delete()
    return deleted > 0
