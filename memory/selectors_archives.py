"""Shared archives (reads): an organization's archives, the agents they are attached to, their passages."""

import uuid
from typing import Literal

from django.contrib.auth.models import User
from django.db.models import Q, QuerySet

from accounts.selectors import organization_id_for
from memory.models import Archive, ArchiveAttachment, Passage

Order = Literal["asc", "desc"]


def archive_queryset(*, actor: User) -> QuerySet[Archive]:
    return Archive.objects.filter(organization_id=organization_id_for(actor))


def archive_get(*, actor: User, archive_id: uuid.UUID) -> Archive:
    """Raises Archive.DoesNotExist for other organizations' archives (a 404, never a 403)."""
    return archive_queryset(actor=actor).get(pk=archive_id)


def archive_list(
    *, actor: User, agent_id: uuid.UUID | None = None, name: str | None = None, order: Order = "asc"
) -> QuerySet[Archive]:
    """The organization's archives by (created_at, id); only those attached to `agent_id` when given."""
    qs = archive_queryset(actor=actor)
    if agent_id is not None:
        qs = qs.filter(attachments__agent_id=agent_id)
    if name is not None:
        qs = qs.filter(name=name)
    return qs.order_by(*(("created_at", "id") if order == "asc" else ("-created_at", "-id")))


def archive_ids_of_agent(*, agent_id: uuid.UUID) -> list[uuid.UUID]:
    """The archives attached to an agent the caller already resolved in its organization."""
    return list(ArchiveAttachment.objects.filter(agent_id=agent_id).values_list("archive_id", flat=True))


def archive_agent_ids(*, archive: Archive) -> list[uuid.UUID]:
    """The agents an archive is attached to, in attachment order."""
    return list(archive.attachments.order_by("created_at", "id").values_list("agent_id", flat=True))


def archive_passages(*, actor: User, archive_id: uuid.UUID, search: str | None = None) -> QuerySet[Passage]:
    """An archive's passages, newest first (for a page to be cut from); `search`: those whose text holds it."""
    qs = Passage.objects.filter(organization_id=organization_id_for(actor), archive_id=archive_id).defer("embedding")
    if search:
        qs = qs.filter(Q(text__icontains=search))
    return qs.order_by("-created_at", "-id")


def archive_passage_get(*, actor: User, archive_id: uuid.UUID, passage_id: uuid.UUID) -> Passage:
    """Raises Passage.DoesNotExist unless the passage is in this archive of the actor's organization."""
    return archive_passages(actor=actor, archive_id=archive_id).get(pk=passage_id)
