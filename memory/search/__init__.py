"""Hybrid search primitives over any table with `id`, `text`, `embedding`, `embedding_model` and `embedding_dim`
columns (passages here, messages in agents.runtime.recall), plus archival search itself.

Modes: `text` ranks by BM25 over the full-text index (a row is findable as soon as it is committed); `vector`
ranks by cosine similarity to the query embedded with the agent's embedding model (a row is findable once it is
embedded, by that same model); `hybrid` (default) fuses both rankings (relative score fusion), then lifts rows
next to strong matches (the reply more when the match asks a question), rows of the episode where the matches
gather, rows written on a date the query names and, for a question asking when, rows that mention a time, and
keeps the first places from all coming from one episode (`Fusion`). The query is embedded without the words most
of the agent's rows hold (`embedding_query`).
Filters (scope, tags, dates, roles) are SQL conditions applied in the database before any limit.

PostgreSQL: the generated `search_tsv` column (GIN) gives BM25 candidates, scored in SQL from their lexeme
counts; vectors come from the per-dimension partial HNSW index (iterative scans keep filtered queries exact in
count). SQLite: FTS5's best matches by its own `bm25()` (b fixed at 0.75), or for words in many rows the newest
matches, re-scored with the same BM25 as PostgreSQL from their term counts (counted from their text with the index's
tokenizer) and lengths in the FTS5 index, and an exact numpy scan over the filtered rows' float32 blobs.

Modules: `scope` (what a search may see, tag filters, limits), `text` (BM25 on PostgreSQL and SQLite), `vectors`
(vector ranking, the embedded query), `fusion` (fusing and re-ranking), `dates` (dates and times named in a query),
`query` (ranked ids, validation, archival search). Callers import from this package only.
"""

from memory.fields import vector_from_db
from memory.search.fusion import (
    DEFAULT_FUSION,
    Around,
    Fusion,
    add_context,
    asks_question,
    diversify,
    episode_boost,
    fuse,
    neighbours,
    rerank,
    time_boost,
)
from memory.search.query import (
    PassageHit,
    passage_search,
    passages_search,
    ranked_ids,
    validate_dates,
    validate_page,
    validate_query,
)
from memory.search.scope import (
    MAX_FILTER_TAGS,
    Scope,
    SearchMode,
    TagMatchMode,
    add_tag_filter,
    db_uuid,
    scope_for,
    scope_for_collections,
)
from memory.search.text import BM25_B, BM25_COORD, BM25_K1, text_ranking
from memory.search.vectors import COMMON_WORD_MIN_ROWS, embedding_query, hnsw_ef_search, vector_ranking

__all__ = [
    "BM25_B",
    "BM25_COORD",
    "BM25_K1",
    "COMMON_WORD_MIN_ROWS",
    "DEFAULT_FUSION",
    "MAX_FILTER_TAGS",
    "Around",
    "Fusion",
    "PassageHit",
    "Scope",
    "SearchMode",
    "TagMatchMode",
    "add_context",
    "add_tag_filter",
    "asks_question",
    "db_uuid",
    "diversify",
    "embedding_query",
    "episode_boost",
    "fuse",
    "hnsw_ef_search",
    "neighbours",
    "passage_search",
    "passages_search",
    "ranked_ids",
    "rerank",
    "scope_for",
    "scope_for_collections",
    "text_ranking",
    "time_boost",
    "validate_dates",
    "validate_page",
    "validate_query",
    "vector_from_db",
    "vector_ranking",
]
