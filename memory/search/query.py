# ruff: noqa: S608 - SQL here interpolates only table names from code and validated integers; values are bound.
"""Search entry points: ranked ids over any searchable table (passages here, messages in agents.runtime.recall),
request validation, and archival search."""

import datetime as dt
import logging
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from typing import Any, TypedDict, TypeVar, Unpack

from django.conf import settings
from django.core.exceptions import ValidationError

from lib import tracing
from memory.embeddings import MAX_QUERY_CHARS, EmbeddingError, cached_query_vector, embed_query, resolve_model
from memory.fields import Vector
from memory.models import ArchiveAttachment, Passage
from memory.search.fusion import DEFAULT_FUSION, Fusion, fuse, neighbours, rerank
from memory.search.scope import (
    MAX_FILTER_TAGS,
    MAX_OFFSET,
    MAX_TOP_K,
    MODES,
    Scope,
    SearchMode,
    TagMatchMode,
    add_tag_filter,
    scope_for_collections,
)
from memory.search.text import text_ranking
from memory.search.vectors import embedding_query, vector_ranking
from memory.types import AgentLike

logger = logging.getLogger(__name__)
V = TypeVar("V")


@cache
def _query_embedder() -> ThreadPoolExecutor:
    """Threads that embed search queries while the database ranks by text."""
    return ThreadPoolExecutor(max_workers=settings.ENGRAM_EMBEDDING_THREADS, thread_name_prefix="engram-query")


def ranked_ids(
    *,
    scope: Scope,
    query: str,
    mode: SearchMode,
    embedding_model: str,
    limit: int,
    fusion: Fusion = DEFAULT_FUSION,
    query_vector: Vector | None = None,
) -> list[tuple[uuid.UUID, float]]:
    """Best-first (id, score) of the rows in `scope`, at most `limit` of them."""
    with tracing.span("memory_search", mode=mode, limit=limit) as span:
        ranked = _ranked_ids(
            scope=scope,
            query=query,
            mode=mode,
            embedding_model=embedding_model,
            limit=limit,
            fusion=fusion,
            query_vector=query_vector,
        )
        tracing.set_attributes(span, results=len(ranked))
        return ranked


def _ranked_ids(
    *,
    scope: Scope,
    query: str,
    mode: SearchMode,
    embedding_model: str,
    limit: int,
    fusion: Fusion,
    query_vector: Vector | None,
) -> list[tuple[uuid.UUID, float]]:
    depth = max(fusion.depth, 2 * limit)
    text: list[tuple[Any, float]] = []
    vector: list[tuple[Any, float]] = []
    model = resolve_model(embedding_model)
    embedding: Future[Vector] | None = None
    embedded = embedding_query(scope, query) if mode != "text" and query_vector is None else query
    if mode == "hybrid" and query_vector is None:
        query_vector = cached_query_vector(model, embedded)
        if query_vector is None:  # embedded while the database ranks by text
            embedding = _query_embedder().submit(embed_query, model, embedded)
    if mode in ("text", "hybrid"):
        text = text_ranking(scope, query, depth)
    if mode in ("vector", "hybrid"):
        try:
            if embedding is not None:
                query_vector = embedding.result()
            elif query_vector is None:
                query_vector = embed_query(model, embedded)
        except EmbeddingError:
            if mode == "vector":
                raise
            logger.warning("hybrid search falls back to full text: embedding the query failed", exc_info=True)
        else:
            vector = vector_ranking(scope, query_vector, model, depth)
    if mode == "text":
        ranked = text
    elif mode == "vector":
        ranked = vector
    else:
        ranked = fuse(text, vector, fusion)
        if fusion.uses_rows and ranked:
            ranked = rerank(ranked, neighbours(scope, [pk for pk, _ in ranked[:depth]]), fusion, depth, query)
    return [(pk if isinstance(pk, uuid.UUID) else uuid.UUID(str(pk)), score) for pk, score in ranked[:limit]]


def validate_query(query: object) -> str:
    if not isinstance(query, str) or not query.strip():
        raise ValidationError({"query": "must be a non-empty string"})
    if len(query) > MAX_QUERY_CHARS:
        raise ValidationError({"query": f"exceeds the {MAX_QUERY_CHARS} character limit ({len(query)} given)"})
    return query


def validate_page(*, mode: object, limit: object, offset: object, limit_name: str, max_limit: int) -> None:
    if mode not in MODES:
        raise ValidationError({"mode": "must be one of hybrid, vector, text"})
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= max_limit:
        raise ValidationError({limit_name: f"must be an integer between 1 and {max_limit}"})
    if not isinstance(offset, int) or isinstance(offset, bool) or not 0 <= offset <= MAX_OFFSET:
        raise ValidationError({"offset": f"must be an integer between 0 and {MAX_OFFSET}"})


def validate_dates(start: object, end: object) -> None:
    for name, value in (("start", start), ("end", end)):
        if value is not None and not isinstance(value, dt.datetime):
            raise ValidationError({name: "must be a datetime"})
        if isinstance(value, dt.datetime) and value.tzinfo is None:
            raise ValidationError({name: "must carry a time zone"})


# -- archival search -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PassageHit:
    passage: Passage
    score: float


class SearchOptions(TypedDict, total=False):
    """The options of a passage search beside its scope: their defaults are those of `passages_search`."""

    mode: SearchMode
    tags: list[str] | None
    tag_match_mode: TagMatchMode
    top_k: int
    start: dt.datetime | None
    end: dt.datetime | None
    offset: int
    fusion: Fusion


def passage_search(*, agent: AgentLike, query: str, **options: Unpack[SearchOptions]) -> list[PassageHit]:
    """Best-first passages of this agent and of the shared archives attached to it (one ranking, every filter
    applied before the limit). Raises ValidationError on bad input, EmbeddingError when vector mode cannot embed
    the query."""
    archive_ids = list(ArchiveAttachment.objects.filter(agent_id=agent.id).values_list("archive_id", flat=True))
    return passages_search(
        organization_id=agent.organization_id,
        agent_ids=[agent.id],
        archive_ids=archive_ids,
        embedding_model=agent.embedding,
        query=query,
        **options,
    )


def passages_search(
    *,
    organization_id: uuid.UUID,
    agent_ids: list[uuid.UUID] | None,
    archive_ids: list[uuid.UUID] | None,
    embedding_model: str,
    query: str,
    mode: SearchMode = "hybrid",
    tags: list[str] | None = None,
    tag_match_mode: TagMatchMode = "any",
    top_k: int = 10,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    offset: int = 0,
    fusion: Fusion = DEFAULT_FUSION,
) -> list[PassageHit]:
    """Best-first passages of the organization's given agents and shared archives (both None: all of the
    organization's), the query embedded with `embedding_model`. Callers resolve the ids within the organization;
    the organization condition is applied here as well."""
    validate_query(query)
    validate_page(mode=mode, limit=top_k, offset=offset, limit_name="top_k", max_limit=MAX_TOP_K)
    validate_dates(start, end)
    if tag_match_mode not in ("any", "all"):
        raise ValidationError({"tag_match_mode": "must be any or all"})
    if tags is not None and (
        not isinstance(tags, list)
        or len(tags) > MAX_FILTER_TAGS
        or not all(isinstance(tag, str) and tag for tag in tags)
    ):
        raise ValidationError({"tags": f"must be a list of at most {MAX_FILTER_TAGS} non-empty strings"})
    scope = scope_for_collections(
        Passage._meta.db_table,
        organization_id=organization_id,
        agent_ids=agent_ids,
        archive_ids=archive_ids,
        start=start,
        end=end,
    )
    if tags:
        add_tag_filter(scope, tags, tag_match_mode)
    ranked = ranked_ids(
        scope=scope, query=query, mode=mode, embedding_model=embedding_model, limit=offset + top_k, fusion=fusion
    )[offset:]
    rows = Passage.objects.defer("embedding").in_bulk([pk for pk, _ in ranked])
    return [PassageHit(passage=rows[pk], score=score) for pk, score in ranked if pk in rows]
