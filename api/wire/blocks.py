"""Letta wire shapes of memory rows (BlockResponse, Passage). Plain dicts, reusable outside the REST API.

memory never imports agents, so these shapes live here and api.wire re-exports them."""

import datetime as dt
from typing import Any, cast

from api.wire.types import ArchiveWire, BlockResponseWire, PassageWire
from lib.ids import public_id, user_public_id
from memory.models import Archive, Block, Passage

JSON = dict[str, Any]


def iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def block_to_wire(block: Block) -> JSON:
    out: BlockResponseWire = {
        "id": public_id("block", block.id),
        "label": block.label,
        "value": block.value,
        "limit": block.limit,
        "description": block.description or None,
        "read_only": block.read_only,
        "metadata": block.metadata or {},
        "tags": list(block.tags or []),
        "hidden": None,
        "is_template": block.is_template,
        "template_name": block.template_name or None,
        "template_id": None,
        "base_template_id": None,
        "deployment_id": None,
        "entity_id": None,
        "preserve_on_migration": False,
        "project_id": None,
        "created_by_id": user_public_id(block.created_by_id),
        "last_updated_by_id": user_public_id(block.last_updated_by_id),
        "created_at": iso(block.created_at),
        "updated_at": iso(block.updated_at),
    }
    return cast(JSON, out)


def passage_to_wire(passage: Passage, *, embedding_config: JSON | None = None) -> JSON:
    out: PassageWire = {
        "id": public_id("passage", passage.id),
        "text": passage.text,
        "embedding": None,  # vectors stay on the server; the SDK treats the field as optional
        "embedding_config": embedding_config,
        "archive_id": public_id("archive", passage.archive_id) if passage.archive_id else None,
        "file_id": None,
        "file_name": None,
        "source_id": None,
        "tags": list(passage.tags or []),
        "metadata": passage.metadata or {},
        "is_deleted": False,
        "created_by_id": user_public_id(passage.created_by_id),
        "last_updated_by_id": None,
        "created_at": iso(passage.created_at),
        "updated_at": iso(passage.updated_at),
    }
    return cast(JSON, out)


def archive_to_wire(archive: Archive, *, embedding_config: JSON | None = None) -> JSON:
    out: ArchiveWire = {
        "id": public_id("archive", archive.id),
        "name": archive.name,
        "description": archive.description or None,
        "metadata": archive.metadata or {},
        "embedding_config": embedding_config,
        "vector_db_provider": "native",
        "created_by_id": user_public_id(archive.created_by_id),
        "last_updated_by_id": user_public_id(archive.last_updated_by_id),
        "created_at": iso(archive.created_at),
        "updated_at": iso(archive.updated_at),
    }
    return cast(JSON, out)
