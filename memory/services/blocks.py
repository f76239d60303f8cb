"""Core-memory block writes. Every write path (REST API, ADE, agent tools, revert) goes through
`block_update`, which enforces `limit` and `read_only` and records a BlockRevision."""

import uuid
from typing import Any, Final

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.selectors import organization_id_for
from memory.models import DEFAULT_BLOCK_DESCRIPTIONS, DEFAULT_BLOCK_LIMIT, Block, BlockRevision
from memory.signals import block_changed

MAX_LABEL_CHARS = 100
SOURCES = ("api", "ade", "tool", "revert")


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = _Unset()


class BlockConflictError(Exception):
    """The block was written since the writer read it: its newest revision is not the one the writer saw.
    `current` is the block as it is now, so the writer can show both values."""

    def __init__(self, current: Block) -> None:
        super().__init__(f"Block '{current.label}' changed since it was read")
        self.current = current


def _latest_revision_id(block_id: uuid.UUID) -> uuid.UUID | None:
    return (
        BlockRevision.objects.filter(block_id=block_id)
        .order_by("-created_at", "-id")
        .values_list("id", flat=True)
        .first()
    )


def limit_message(*, limit: int, requested: int) -> str:
    return f"Exceeds {limit} character limit (requested {requested})"


def _clean_label(label: Any) -> str:
    if not isinstance(label, str) or not label.strip():
        raise ValidationError({"label": "must be a non-empty string"})
    cleaned: str = label.strip()
    if len(cleaned) > MAX_LABEL_CHARS:
        raise ValidationError({"label": f"at most {MAX_LABEL_CHARS} characters"})
    return cleaned


MAX_BLOCK_LIMIT = 2**31 - 1  # the column's range


def _clean_limit(limit: Any) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 0 < limit <= MAX_BLOCK_LIMIT:
        raise ValidationError({"limit": f"must be a positive integer of at most {MAX_BLOCK_LIMIT}"})
    return limit


def _clean_json(field: str, value: Any, kind: type) -> Any:
    if not isinstance(value, kind):
        raise ValidationError({field: f"must be {'an object' if kind is dict else 'a list'}"})
    return value


def _check_value(value: Any, limit: int) -> str:
    if not isinstance(value, str):
        raise ValidationError({"value": "must be a string"})
    if len(value) > limit:
        raise ValidationError({"value": limit_message(limit=limit, requested=len(value))})
    return value


def _notify(block_id: uuid.UUID, revision_id: uuid.UUID | None) -> None:
    transaction.on_commit(
        lambda: block_changed.send(sender=Block, block_id=block_id, revision_id=revision_id), robust=True
    )


@transaction.atomic
def block_create(
    *,
    actor: User | None,
    organization_id: uuid.UUID | None = None,
    label: str,
    value: str = "",
    limit: int | None = None,
    description: str | None = None,
    read_only: bool = False,
    metadata: dict[str, Any] | None = None,
    tags: list[str] | None = None,
    is_template: bool = False,
    template_name: str = "",
) -> Block:
    """`organization_id` defaults to the actor's organization (one of the two is required)."""
    if organization_id is None:
        if actor is None:
            raise ValueError("block_create needs an actor or an organization_id")
        organization_id = organization_id_for(actor)
    label = _clean_label(label)
    limit = DEFAULT_BLOCK_LIMIT if limit is None else _clean_limit(limit)
    value = _check_value("" if value is None else value, limit)
    if description is None or description == "":
        description = DEFAULT_BLOCK_DESCRIPTIONS.get(label, "")
    if not isinstance(description, str):
        raise ValidationError({"description": "must be a string"})
    if not isinstance(read_only, bool):
        raise ValidationError({"read_only": "must be a boolean"})
    block = Block.objects.create(
        organization_id=organization_id,
        label=label,
        value=value,
        limit=limit,
        description=description,
        read_only=read_only,
        metadata=_clean_json("metadata", metadata or {}, dict),
        tags=_clean_json("tags", tags or [], list),
        is_template=is_template,
        template_name=template_name,
        created_by=actor,
        last_updated_by=actor,
    )
    _notify(block.id, None)
    return block


@transaction.atomic
def block_update(
    *,
    block: Block,
    actor: User | None = None,
    agent_id: uuid.UUID | None = None,
    step_id: uuid.UUID | None = None,
    source: str = "api",
    value: "str | _Unset" = UNSET,
    label: "str | _Unset" = UNSET,
    limit: "int | _Unset" = UNSET,
    description: "str | _Unset" = UNSET,
    read_only: "bool | _Unset" = UNSET,
    metadata: "dict[str, Any] | _Unset" = UNSET,
    tags: "list[str] | _Unset" = UNSET,
    base_revision_id: "uuid.UUID | None | _Unset" = UNSET,
) -> Block:
    """The one write path for blocks. Locks the row (select_for_update), so concurrent writers (two agents
    sharing a block, an agent and a user) serialize and each revision's `before` is what it replaced.

    Who wrote it is `actor` (a user) or `agent_id` (+ `step_id`) for an agent's tool call. `read_only` blocks
    refuse agent writes always, and user writes of the value unless the same update clears `read_only`.

    `base_revision_id` (the newest revision the writer saw, None for none) makes the write conditional: if the
    block has been written since, nothing is saved and BlockConflictError carries the block as it is now."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}")
    locked = Block.objects.select_for_update().get(pk=block.pk)
    if not isinstance(base_revision_id, _Unset) and _latest_revision_id(locked.pk) != base_revision_id:
        raise BlockConflictError(locked)
    before = locked.value
    if not isinstance(read_only, _Unset) and not isinstance(read_only, bool):
        raise ValidationError({"read_only": "must be a boolean"})
    if not isinstance(label, _Unset):
        locked.label = _clean_label(label)
    if not isinstance(limit, _Unset):
        locked.limit = _clean_limit(limit)
    if not isinstance(description, _Unset):
        if not isinstance(description, str):
            raise ValidationError({"description": "must be a string"})
        locked.description = description
    if not isinstance(metadata, _Unset):
        locked.metadata = _clean_json("metadata", metadata, dict)
    if not isinstance(tags, _Unset):
        locked.tags = _clean_json("tags", tags, list)
    if not isinstance(value, _Unset):
        if value != before:
            unlocking = read_only is False and agent_id is None
            if locked.read_only and not unlocking:
                raise ValidationError(
                    {
                        "value": f"Block '{locked.label}' is read-only"
                        + ("" if agent_id is not None else "; set read_only to false to edit it")
                    }
                )
        locked.value = value
    if not isinstance(read_only, _Unset):
        if agent_id is not None and read_only != locked.read_only:
            raise ValidationError({"read_only": "an agent cannot change read_only"})
        locked.read_only = read_only
    _check_value(locked.value, locked.limit)
    if actor is not None:
        locked.last_updated_by = actor
    locked.save()
    revision_id = None
    if locked.value != before:
        revision = BlockRevision.objects.create(
            organization_id=locked.organization_id,
            block=locked,
            before=before,
            after=locked.value,
            actor_user=actor,
            actor_agent_id=agent_id,
            step_id=step_id,
            source=source,
        )
        revision_id = revision.id
    _notify(locked.id, revision_id)
    # Keep the caller's instance current.
    for field in ("label", "value", "limit", "description", "read_only", "metadata", "tags", "updated_at"):
        setattr(block, field, getattr(locked, field))
    return locked


def block_revert(*, revision: BlockRevision, actor: User, source: str = "revert") -> Block:
    """Set the block back to the value it had before `revision`; itself recorded as a new revision."""
    return block_update(block=revision.block, actor=actor, source=source, value=revision.before)


@transaction.atomic
def block_delete(*, block: Block) -> None:
    block_id = block.id
    block.delete()
    _notify(block_id, None)
