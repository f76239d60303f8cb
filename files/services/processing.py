"""Processing an uploaded file: parse → chunk → embed, then index, in the background.

A file goes pending → parsing → embedding → completed, or error with a readable reason. Its chunks are embedded
in batches in memory (progress: `chunks_embedded` / `total_chunks` on the file row after each batch) and written,
with their vectors, in the same transaction that marks the file completed: a file is searchable whole or not at
all, and a file that fails leaves nothing indexed. Runs as a Celery task (`files.process_file`, queue
`embeddings`) when REDIS_URL is set, else on this process's one low-priority file worker (lib.background)."""

import datetime as dt
import functools
import logging
import uuid
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.utils import timezone

from files import chunking, parsing
from files.events import publish_file_status
from files.models import File, FileChunk
from lib.background import Worker
from memory.ddl import ensure_vector_index
from memory.embeddings import EmbeddingError, content_hash, embed_texts, resolve_model, token_counter

logger = logging.getLogger(__name__)

EMBED_BATCH = 64
_worker = Worker("engram-files", nice=10, exit_timeout=10.0)


def process_after_commit(*, file_id: uuid.UUID) -> None:
    key = str(file_id)

    def dispatch() -> None:
        if settings.REDIS_URL:
            from files.tasks import process_file_task

            process_file_task.delay(key)
        else:
            _worker.submit(functools.partial(_process_in_thread, key))

    transaction.on_commit(dispatch)


def flush() -> None:
    """Wait for this process's file worker (tests, benchmarks)."""
    _worker.flush()


def _process_in_thread(file_id: str) -> None:
    close_old_connections()
    try:
        file_process(file_id=file_id)
    finally:
        connection.close()


def _fail(row: File, reason: str) -> None:
    with transaction.atomic():
        FileChunk.objects.filter(file_id=row.id).delete()
        File.objects.filter(pk=row.id).exclude(status=File.Status.COMPLETED).update(
            status=File.Status.ERROR, error_message=reason[:2000], raw=None
        )
    publish_file_status(file_id=row.id, folder_id=row.folder_id, status=File.Status.ERROR)


def file_process(*, file_id: str) -> str:
    """Process one pending file; returns its final status ('' when it is gone or not pending: a redelivered task
    is a no-op). Errors of the file (unparseable, no text, embedding failure) end in status `error`."""
    claimed = File.objects.filter(pk=file_id, status=File.Status.PENDING).update(
        status=File.Status.PARSING, updated_at=timezone.now()
    )
    if claimed != 1:
        return ""
    row = File.objects.select_related("folder").filter(pk=file_id).only(
        "id", "file_name", "raw", "content", "created_at", "organization_id", "folder_id", "folder__embedding",
        "folder__embedding_chunk_size",
    ).first()  # fmt: skip
    if row is None:
        return ""
    try:
        if row.raw is None and row.content:  # text carried by an agent file: already extracted
            text = row.content
        else:
            text = parsing.extract_text(
                row.file_name, bytes(row.raw or b""), max_chars=settings.ENGRAM_FILE_MAX_TEXT_CHARS
            )
    except parsing.ParseError as exc:
        _fail(row, f"{row.file_name}: {exc}")
        return File.Status.ERROR
    except Exception as exc:  # a parser bug must not leave the file parsing forever
        logger.exception("parsing %s failed", row.id)
        _fail(row, f"{row.file_name}: the file could not be parsed ({type(exc).__name__})")
        return File.Status.ERROR
    model = resolve_model(row.folder.embedding)
    chunks = chunking.chunk_text(
        text,
        max_tokens=chunking.chunk_tokens(model, row.folder.embedding_chunk_size),
        count=token_counter(model) or chunking.estimated_counter,
    )
    if not chunks:
        _fail(row, f"{row.file_name}: no text could be extracted from the file")
        return File.Status.ERROR
    updated = File.objects.filter(pk=row.id, status=File.Status.PARSING).update(
        status=File.Status.EMBEDDING,
        content=text,
        raw=None,
        total_chunks=len(chunks),
        chunks_embedded=0,
        updated_at=timezone.now(),
    )
    if updated != 1:
        return ""
    publish_file_status(
        file_id=row.id, folder_id=row.folder_id, status=File.Status.EMBEDDING, done=0, total=len(chunks)
    )
    vectors: list[Any] = []
    try:
        for begin in range(0, len(chunks), EMBED_BATCH):
            batch = chunks[begin : begin + EMBED_BATCH]
            vectors.extend(embed_texts(model, [chunk.text for chunk in batch]))
            done = begin + len(batch)
            if (
                File.objects.filter(pk=row.id, status=File.Status.EMBEDDING).update(
                    chunks_embedded=done, updated_at=timezone.now()
                )
                != 1
            ):
                return ""  # deleted (or replaced) meanwhile
            publish_file_status(
                file_id=row.id, folder_id=row.folder_id, status=File.Status.EMBEDDING, done=done, total=len(chunks)
            )
    except EmbeddingError as exc:
        _fail(row, f"{row.file_name}: embedding failed: {exc}")
        return File.Status.ERROR
    dim = int(vectors[0].shape[0])
    ensure_vector_index(FileChunk._meta.db_table, dim)
    with transaction.atomic():
        if (
            File.objects.filter(pk=row.id, status=File.Status.EMBEDDING).update(
                status=File.Status.COMPLETED, chunks_embedded=len(chunks)
            )
            != 1
        ):
            return ""
        FileChunk.objects.bulk_create(
            [
                FileChunk(
                    organization_id=row.organization_id,
                    folder_id=row.folder_id,
                    file_id=row.id,
                    position=i,
                    start_line=chunk.start_line,
                    end_line=chunk.end_line,
                    text=chunk.text,
                    # The file's order, for search neighbours: one microsecond per chunk after the upload.
                    created_at=row.created_at + dt.timedelta(microseconds=i),
                    embedding=vector,
                    embedding_model=model,
                    embedding_dim=dim,
                    embedding_hash=content_hash(model, chunk.text),
                )
                for i, (chunk, vector) in enumerate(zip(chunks, vectors, strict=True))
            ],
            batch_size=500,
        )
    publish_file_status(
        file_id=row.id, folder_id=row.folder_id, status=File.Status.COMPLETED, done=len(chunks), total=len(chunks)
    )
    return File.Status.COMPLETED


BUSY = (File.Status.PENDING, File.Status.PARSING, File.Status.EMBEDDING)


def files_resume_stale() -> int:
    """Files whose processing was lost (a worker died mid-way, a process stopped with files in its queue): pending,
    parsing or embedding and untouched for ENGRAM_FILE_STALE_SECONDS go back to pending and are dispatched again,
    each by one sweeper only (a conditional UPDATE). Run by every Celery worker at start and by the in-process run
    pool's sweep. Returns how many were resumed."""
    cutoff = timezone.now() - dt.timedelta(seconds=settings.ENGRAM_FILE_STALE_SECONDS)
    resumed = 0
    stale = File.objects.filter(status__in=BUSY, updated_at__lt=cutoff).values_list("id", "status", "updated_at")
    for pk, status, updated_at in stale[:1000]:
        if File.objects.filter(pk=pk, status=status, updated_at=updated_at).update(
            status=File.Status.PENDING, chunks_embedded=None, updated_at=timezone.now()
        ):
            process_after_commit(file_id=pk)
            resumed += 1
    if resumed:
        logger.warning("resumed the processing of %d files whose worker was lost", resumed)
    return resumed
