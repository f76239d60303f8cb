import uuid
from collections.abc import Collection
from typing import Any

from django.contrib.auth.models import User
from django.db.models import QuerySet

from accounts.selectors import organization_id_for
from memory.models import Block, BlockRevision


def block_list(
    *,
    actor: User,
    label: str | None = None,
    tags: list[str] | None = None,
    match_all_tags: bool = False,
    templates_only: bool = False,
    name: str | None = None,
    block_ids: "Collection[uuid.UUID] | QuerySet[Any] | None" = None,
) -> QuerySet[Block]:
    """The organization's blocks, filtered. `block_ids`: only these (ids or a subquery of them; callers that filter
    by something memory does not know, such as identities, resolve it to block ids first)."""
    qs = Block.objects.filter(organization_id=organization_id_for(actor))
    if block_ids is not None:
        qs = qs.filter(pk__in=block_ids)
    if label:
        qs = qs.filter(label=label)
    if templates_only:
        qs = qs.filter(is_template=True)
    if name:
        qs = qs.filter(template_name=name)
    if tags:
        # Tags are a small JSON list; filter in Python over ids to stay portable across SQLite and PostgreSQL.
        wanted = set(tags)
        ids = [
            pk
            for pk, have in qs.values_list("pk", "tags")
            if (wanted <= set(have or []) if match_all_tags else wanted & set(have or []))
        ]
        qs = qs.filter(pk__in=ids)
    return qs.order_by("created_at", "id")


def block_get(*, actor: User, block_id: uuid.UUID) -> Block:
    """Raises Block.DoesNotExist for blocks of other organizations."""
    return Block.objects.get(organization_id=organization_id_for(actor), pk=block_id)


def block_revision_list(*, actor: User, block_id: uuid.UUID) -> QuerySet[BlockRevision]:
    """Newest first. Raises Block.DoesNotExist when the block is not the actor's organization's."""
    block = block_get(actor=actor, block_id=block_id)
    return BlockRevision.objects.filter(block=block).select_related("actor_user").order_by("-created_at", "-id")


def block_revision_get(*, actor: User, revision_id: uuid.UUID) -> BlockRevision:
    return BlockRevision.objects.select_related("block").get(organization_id=organization_id_for(actor), pk=revision_id)
