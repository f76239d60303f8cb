"""The vector side of semantic_search_files: a folder's ranking is the exact best of its own chunks, another folder's
and another organization's nearer chunks never show (both databases: PostgreSQL's exact scan, SQLite's cached matrix
product), and PostgreSQL keeps each chunk's vector in its row, so that scan reads no TOAST table
(memory.ddl.inline_vectors_sql). The scope is the one semantic_search builds (files.search.chunk_scope)."""

import datetime as dt
import os
import uuid
from typing import Any

import numpy as np
import pytest
from django.db import connection

from accounts.selectors import organization_id_for
from files.models import File, FileChunk, Folder
from files.search import chunk_scope
from files.services.folders import folder_create
from memory.ddl import ensure_vector_index
from memory.search import vector_ranking

pytestmark = pytest.mark.django_db

MODEL = "test/eight-dims"
BASE = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def ids(ranked: list[tuple[Any, float]]) -> list[uuid.UUID]:
    return [uuid.UUID(str(pk)) for pk, _ in ranked]


def unit(values: np.ndarray) -> np.ndarray:
    normalised: np.ndarray = (values / np.linalg.norm(values, axis=1, keepdims=True)).astype(np.float32)
    return normalised


def words(seed: int) -> str:
    """100 made-up words: text that does not compress (a compressed text would leave the vector room in the row)."""
    rng = np.random.default_rng(seed)
    return " ".join("".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz"), size=6)) for _ in range(100))


def folder_of(user: Any, name: str, vectors: np.ndarray) -> tuple[Folder, list[FileChunk]]:
    folder = folder_create(organization_id=organization_id_for(user), name=name)
    file = File.objects.create(
        organization_id=folder.organization_id, folder=folder, file_name=f"{name}.txt",
        original_file_name=f"{name}.txt", status=File.Status.COMPLETED,
    )  # fmt: skip
    dim = vectors.shape[1]
    ensure_vector_index(FileChunk._meta.db_table, dim)
    # Written with the ORM on purpose: the test chooses the vectors, which processing would compute from text.
    rows = FileChunk.objects.bulk_create(
        FileChunk(
            organization_id=folder.organization_id, folder=folder, file=file, position=i,
            text=f"{name} part {i}: {words(i)}",
            created_at=BASE + dt.timedelta(seconds=i), embedding=vector, embedding_model=MODEL, embedding_dim=dim,
        )
        for i, vector in enumerate(vectors)
    )  # fmt: skip
    return folder, rows


def test_a_folders_ranking_is_the_exact_best_of_its_own_chunks(alice: Any, charlie: Any) -> None:
    rng = np.random.default_rng(5)
    query = unit(rng.normal(size=(1, 8)))[0]
    own = unit(rng.normal(size=(400, 8)))
    folder, rows = folder_of(alice, "manuals", own)
    # Nearer to the query than any of the folder's own chunks: they would rank first if a condition leaked.
    _, near_mine = folder_of(alice, "other", unit(query + 0.05 * rng.normal(size=(60, 8))))
    _, near_theirs = folder_of(charlie, "theirs", unit(query + 0.05 * rng.normal(size=(60, 8))))
    scope = chunk_scope(organization_id=folder.organization_id, folder_ids=[folder.id])
    ranked = vector_ranking(scope, query, MODEL, 50)
    exact = sorted(range(400), key=lambda i: -float(own[i] @ query))[:50]
    assert ids(ranked) == [rows[i].pk for i in exact]
    assert [score for _, score in ranked] == pytest.approx([float(own[i] @ query) for i in exact], abs=1e-5)
    assert not set(ids(ranked)) & {row.pk for row in near_mine + near_theirs}
    # Both folders of the organization at once: the nearer chunks of the other folder now lead.
    both = chunk_scope(organization_id=folder.organization_id, folder_ids=[folder.id, near_mine[0].folder_id])
    assert set(ids(vector_ranking(both, query, MODEL, 60))) == {row.pk for row in near_mine}


def test_chunks_keep_their_vectors_in_the_row(alice: Any) -> None:
    """A 384-dim vector (1.5 kB) beside a chunk's text and tsvector makes a row of over 2 kB, which PostgreSQL would
    otherwise shorten by moving the vector to the TOAST table: an exact scan then looks each one up there."""
    if connection.vendor != "postgresql":
        assert os.environ.get("ENGRAM_TEST_DB") == "sqlite"  # SQLite keeps every blob in its table
        return

    def toasted_values() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT reltoastrelid::regclass::text FROM pg_class WHERE relname = 'files_filechunk'")
            cursor.execute(f"SELECT count(DISTINCT chunk_id) FROM {cursor.fetchone()[0]}")  # noqa: S608 - from pg_class
            return int(cursor.fetchone()[0])

    before = toasted_values()
    folder, _ = folder_of(alice, "wide", unit(np.random.default_rng(8).normal(size=(300, 384))))
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(octet_length(t.text)) FROM files_filechunk t WHERE t.folder_id = %s", [folder.id])
        assert cursor.fetchone()[0] + 384 * 4 > 2032  # rows that would have been shortened
    assert toasted_values() == before  # out of line, each of the 300 vectors would be one more value there
