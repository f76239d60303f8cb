"""Archival memory writes. A passage belongs to one agent or to one shared archive; search lives in memory.search.

A passage is findable by text (and so by hybrid search) as soon as its insert commits, and by meaning once it is
embedded with its agent's embedding model (memory.services.embedding_dispatch.embed_after_commit)."""

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, cast

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from memory.models import Archive, Passage
from memory.services.embedding_dispatch import embed_after_commit
from memory.services.embeddings import PASSAGES
from memory.types import AgentLike

MAX_PASSAGE_CHARS = 100_000
MAX_TAG_CHARS = 200
MAX_TAGS = 100
MAX_BATCH_ITEMS = 5_000


@dataclass(frozen=True)
class PassageInput:
    text: str
    tags: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    created_at: dt.datetime | None = None


def _clean(item: object) -> PassageInput:
    if not isinstance(item, PassageInput):
        raise ValidationError({"items": "must be PassageInput values"})
    if not isinstance(item.text, str) or not item.text.strip():
        raise ValidationError({"text": "must be a non-empty string"})
    if len(item.text) > MAX_PASSAGE_CHARS:
        raise ValidationError({"text": f"exceeds the {MAX_PASSAGE_CHARS} character limit ({len(item.text)} given)"})
    if not isinstance(item.tags, list) or not all(isinstance(t, str) and t for t in item.tags):
        raise ValidationError({"tags": "must be a list of non-empty strings"})
    if any(len(t) > MAX_TAG_CHARS for t in item.tags) or len(item.tags) > MAX_TAGS:
        raise ValidationError({"tags": f"at most {MAX_TAGS} tags of at most {MAX_TAG_CHARS} characters each"})
    if not isinstance(item.metadata, dict):
        raise ValidationError({"metadata": "must be an object"})
    if item.created_at is not None and (not isinstance(item.created_at, dt.datetime) or item.created_at.tzinfo is None):
        raise ValidationError({"created_at": "must be a datetime with a time zone"})
    return item


@transaction.atomic
def passage_insert_many(
    *,
    agent: AgentLike | None = None,
    archive: Archive | None = None,
    items: list[PassageInput],
    created_by_id: int | None = None,
    embed_in_background: bool = False,
) -> list[Passage]:
    """Into an agent's own archival memory or a shared archive (exactly one). Validate everything first, then
    write all or nothing, in the given order (equal times keep it: ids are time-ordered). Embedding happens after
    commit; `embed_in_background`: never in the caller's thread, batched with other writes (API inserts: a client
    inserting passages one by one must not wait for the model each time; text search finds them at once)."""
    if (agent is None) == (archive is None):
        raise ValueError("passages go to exactly one of an agent or an archive")
    owner: AgentLike | Archive = agent if agent is not None else cast(Archive, archive)
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_BATCH_ITEMS:
        raise ValidationError({"items": f"must be a list of 1 to {MAX_BATCH_ITEMS} passages"})
    cleaned = [_clean(item) for item in items]
    now = timezone.now()
    rows = [
        Passage(
            organization_id=owner.organization_id,
            agent_id=agent.id if agent is not None else None,
            archive_id=archive.id if archive is not None else None,
            text=item.text,
            tags=sorted(set(item.tags)),
            metadata=item.metadata,
            created_at=item.created_at or now,
            created_by_id=created_by_id,
        )
        for item in cleaned
    ]
    created = Passage.objects.bulk_create(rows)
    embed_after_commit(label=PASSAGES, ids=[str(p.pk) for p in created], background=embed_in_background)
    return created


def passage_insert(
    *,
    agent: AgentLike | None = None,
    archive: Archive | None = None,
    text: str,
    tags: list[str] | None = None,
    metadata: dict[str, Any] | None = None,
    created_at: dt.datetime | None = None,
    created_by_id: int | None = None,
    embed_in_background: bool = False,
) -> Passage:
    item = PassageInput(
        text=text,
        tags=[] if tags is None else tags,
        metadata={} if metadata is None else metadata,
        created_at=created_at,
    )
    return passage_insert_many(
        agent=agent, archive=archive, items=[item], created_by_id=created_by_id, embed_in_background=embed_in_background
    )[0]


def passage_delete(*, passage: Passage) -> None:
    passage.delete()
