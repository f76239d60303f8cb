"""Passage selectors (archival memory reads). Kept apart from memory/selectors.py (blocks) on purpose."""

import datetime as dt
import uuid
from typing import Literal

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.db.models.expressions import RawSQL

from accounts.selectors import organization_id_for
from memory.models import EmbeddingJob, Passage
from memory.search import MAX_FILTER_TAGS, TagMatchMode, add_tag_filter, scope_for_collections

MAX_LIST_LIMIT = 1_000
Order = Literal["asc", "desc"]


def passage_queryset(*, actor: User) -> QuerySet[Passage]:
    return Passage.objects.filter(organization_id=organization_id_for(actor)).defer("embedding")


def passage_get(*, actor: User, passage_id: uuid.UUID) -> Passage:
    """Raises Passage.DoesNotExist for other organizations' passages (a 404, never a 403)."""
    return passage_queryset(actor=actor).get(pk=passage_id)


def passage_list(
    *,
    actor: User,
    agent_id: uuid.UUID,
    after: uuid.UUID | None = None,
    before: uuid.UUID | None = None,
    limit: int = 100,
    order: Order = "asc",
) -> list[Passage]:
    """Cursor pagination over (created_at, id). `after`/`before` are passage ids of this agent, exclusive, and
    follow the listing order (with order="desc", `after` gives older passages). An unknown cursor is a
    ValidationError."""
    if order not in ("asc", "desc"):
        raise ValidationError({"order": "must be asc or desc"})
    if not isinstance(limit, int) or not 1 <= limit <= MAX_LIST_LIMIT:
        raise ValidationError({"limit": f"must be between 1 and {MAX_LIST_LIMIT}"})
    qs = passage_queryset(actor=actor).filter(agent_id=agent_id)
    for name, cursor_id, later in (("after", after, order == "asc"), ("before", before, order == "desc")):
        if cursor_id is None:
            continue
        cursor = qs.filter(pk=cursor_id).values_list("created_at", "id").first()
        if cursor is None:
            raise ValidationError({name: "is not a passage of this agent"})
        created_at, pk = cursor
        if later:
            qs = qs.filter(Q(created_at__gt=created_at) | Q(created_at=created_at, id__gt=pk))
        else:
            qs = qs.filter(Q(created_at__lt=created_at) | Q(created_at=created_at, id__lt=pk))
    fields = ["created_at", "id"] if order == "asc" else ["-created_at", "-id"]
    return list(qs.order_by(*fields)[:limit])


def passage_filter(
    *,
    actor: User,
    agent_ids: list[uuid.UUID] | None,
    archive_ids: list[uuid.UUID] | None,
    tags: list[str] | None = None,
    tag_match_mode: TagMatchMode = "any",
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
) -> QuerySet[Passage]:
    """Passages of the actor's organization held by any of the agents or shared archives (both None: all of
    them), newest first. Every filter is a SQL condition, so a page holds only matches; the tag condition is the
    one search uses ("all" = every tag, "any" = at least one). Raises ValidationError for a bad tag filter."""
    if tag_match_mode not in ("any", "all"):
        raise ValidationError({"tag_match_mode": "must be any or all"})
    if tags is not None and (len(tags) > MAX_FILTER_TAGS or not all(isinstance(t, str) and t for t in tags)):
        raise ValidationError({"tags": f"must be at most {MAX_FILTER_TAGS} non-empty tags"})
    organization_id = organization_id_for(actor)
    qs = passage_queryset(actor=actor)
    if agent_ids is not None or archive_ids is not None:
        qs = qs.filter(Q(agent_id__in=agent_ids or []) | Q(archive_id__in=archive_ids or []))
    if start is not None:
        qs = qs.filter(created_at__gte=start)
    if end is not None:
        qs = qs.filter(created_at__lte=end)
    if tags:
        scope = scope_for_collections(
            Passage._meta.db_table, organization_id=organization_id, agent_ids=agent_ids, archive_ids=archive_ids
        )
        add_tag_filter(scope, tags, tag_match_mode)
        # The table name comes from code and the conditions from add_tag_filter; the tags themselves are bound.
        sql = f"SELECT t.id FROM {scope.table} t WHERE {scope.sql()}"  # noqa: S608
        qs = qs.filter(pk__in=RawSQL(sql, scope.params))  # noqa: S611
    return qs.order_by("-created_at", "-id")


def embedding_job_latest(*, actor: User, agent_id: uuid.UUID) -> EmbeddingJob | None:
    """The agent's most recent re-embed job (progress: .done / .total, .progress, .status)."""
    return EmbeddingJob.objects.filter(organization_id=organization_id_for(actor), agent_id=agent_id).first()
