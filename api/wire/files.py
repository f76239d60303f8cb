"""Letta's shapes for folders (Folder / Source), files (FileMetadata) and an agent's file views."""

from typing import cast

from api.wire.blocks import JSON, iso
from api.wire.embedding import embedding_config
from api.wire.types import ChunkWire, FileViewWire, FileWire, FolderWire
from files.models import File, FileAgent, FileChunk, Folder
from files.windows import display_name
from lib.ids import public_id, user_public_id


def folder_to_wire(folder: Folder) -> JSON:
    config = embedding_config(folder.embedding) or {}
    out: FolderWire = {
        "id": public_id("source", folder.id),
        "name": folder.name,
        "description": folder.description or None,
        "instructions": folder.instructions or None,
        "metadata": folder.metadata or None,
        "embedding_config": {**config, "embedding_chunk_size": folder.embedding_chunk_size},
        "vector_db_provider": "native",
        "created_at": iso(folder.created_at),
        "updated_at": iso(folder.updated_at),
        "created_by_id": user_public_id(folder.created_by_id),
        "last_updated_by_id": user_public_id(folder.last_updated_by_id),
    }
    return cast(JSON, out)


def file_to_wire(file: File, *, content: bool = False) -> JSON:
    folder_id = public_id("source", file.folder_id)
    out: FileWire = {
        "id": public_id("file", file.id),
        "source_id": folder_id,
        "folder_id": folder_id,
        "file_name": file.file_name,
        "original_file_name": file.original_file_name,
        "file_path": None,
        "file_type": file.file_type or None,
        "file_size": file.file_size,
        "file_creation_date": None,
        "file_last_modified_date": None,
        "processing_status": file.status,
        "error_message": file.error_message or None,
        "total_chunks": file.total_chunks,
        "chunks_embedded": file.chunks_embedded,
        "content": file.content if content else None,
        "created_at": iso(file.created_at),
        "updated_at": iso(file.updated_at),
    }
    return cast(JSON, out)


def file_view_to_wire(view: FileAgent) -> JSON:
    out: FileViewWire = {
        "id": public_id("file_agent", view.id),
        "file_id": public_id("file", view.file_id),
        "file_name": display_name(view.folder, view.file),
        "folder_id": public_id("source", view.folder_id),
        "folder_name": view.folder.name,
        "is_open": view.is_open,
        "start_line": view.start_line if view.is_open else None,
        "end_line": view.end_line if view.is_open else None,
        "last_accessed_at": iso(view.last_accessed_at),
        "visible_content": view.visible_content if view.is_open else None,
    }
    return cast(JSON, out)


def chunk_to_wire(chunk: FileChunk) -> JSON:
    """A file's chunk as Letta's Passage (GET /v1/folders/{id}/passages)."""
    out: ChunkWire = {
        "id": public_id("passage", chunk.id),
        "text": chunk.text,
        "file_id": public_id("file", chunk.file_id),
        "source_id": public_id("source", chunk.folder_id),
        "archive_id": None,
        "embedding": None,
        "embedding_config": embedding_config(chunk.embedding_model),
        "metadata": {"start_line": chunk.start_line, "end_line": chunk.end_line, "position": chunk.position},
        "tags": [],
        "created_at": iso(chunk.created_at),
        "updated_at": iso(chunk.created_at),
        "organization_id": None,
        "is_deleted": False,
    }
    return cast(JSON, out)
