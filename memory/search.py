# ruff: noqa: S608 - SQL here interpolates only table names from code and validated integers; values are bound.
"""Hybrid search primitives over any table with `id`, `text`, `embedding`, `embedding_model` and `embedding_dim`
columns (passages here, messages in agents.recall), plus archival search itself.

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
count). SQLite: FTS5's best matches by its own `bm25()` (b fixed at 0.75), re-scored with the same BM25 as
PostgreSQL from their term counts and lengths in the FTS5 index, and an exact numpy scan over the filtered rows'
float32 blobs.
"""

import datetime as dt
import json
import logging
import math
import re
import time
import uuid
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Generic, Literal, TypeVar
from weakref import WeakKeyDictionary

import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils.dateparse import parse_datetime

from memory import ddl
from memory.embeddings import MAX_QUERY_CHARS, EmbeddingError, cached_query_vector, embed_query, resolve_model
from memory.fields import Vector, vector_from_db, vector_to_pg
from memory.models import Passage
from memory.query_dates import DateWindow, asks_when, in_any, mentions_time, query_date_windows
from memory.types import AgentLike

logger = logging.getLogger(__name__)
V = TypeVar("V")

SearchMode = Literal["hybrid", "vector", "text"]
TagMatchMode = Literal["any", "all"]
MODES = ("hybrid", "vector", "text")
MAX_TOP_K = 200
MAX_OFFSET = 10_000
MAX_FILTER_TAGS = 100
EXACT_SCAN_ROWS = 10_000  # PostgreSQL: agents with at most this many rows get an exact vector scan
TEXT_CANDIDATES = 500  # BM25 is computed over at most this many full-text matches (best ts_rank or FTS5 bm25() first)


@dataclass(frozen=True)
class Fusion:
    """How hybrid mode merges the full-text and vector rankings (tuned on LoCoMo, see docs/benchmarks.md).

    `rsf` (default): relative score fusion, Σ weight × min-max-normalised score over each ranking's candidates;
    unlike RRF it keeps how far ahead a match is, so an exact identifier that only full text finds is not
    outvoted by a near-tie of vectors. `rrf`: weighted reciprocal rank fusion, Σ weight / (k + rank).

    Context: a row then also receives `context_prev` × the fused score of the row just before it in time (and
    `context_prev2` of the one before that, `context_next` of the one after, `context_next2` of the one after
    that), within the same filters; rows next to a candidate are scored the same way. Memories
    are written in conversation order, and the row that answers a question often follows the one that matches
    its words ("What did you paint?" → "A sunset over the lake").

    Episodes: candidates written less than `episode_gap` seconds apart (chained in time) form one episode, such
    as one conversation; each row then gains `episode_weight` × its episode's mass (the sum of its best
    `episode_top` scores, relative to the best episode's) × the best score. A question is usually answered
    inside the episode where most of its evidence sits.

    Questions: a row that itself asks a question ("What kind of movies do you like?") shares the words of a question
    put to search but seldom answers it; the reply after it does. Such a row keeps 1 − `question_discount` of its own
    score, and the row after it receives `context_prev` + `question_reply` of it instead of `context_prev`.

    Dates: when the query names a calendar date (`memory.query_dates`), rows created within it gain
    `date_weight` × the best score. Times: when the query asks when something happened ("When did …?"), rows that
    mention a time ("yesterday", "last week", "in May") gain `time_weight` × the best score.

    Diversity: the first `diversity_top` places are filled one at a time, each row's score discounted by
    (1 − `diversity`) for every row of its episode already placed, so that they do not all come from one episode
    when another comes close; the rest follow in score order."""

    method: Literal["rrf", "rsf"] = "rsf"
    k: float = 60.0
    text_weight: float = 1.0
    vector_weight: float = 0.6
    depth: int = 50  # candidates taken from each ranking (at least 2 × (offset + top_k))
    context_prev: float = 0.3
    context_prev2: float = 0.2
    context_next: float = 0.15
    context_next2: float = 0.05
    episode_weight: float = 0.3
    episode_gap: float = 3600.0
    episode_top: int = 2
    date_weight: float = 0.5
    question_discount: float = 0.3
    question_reply: float = 0.3
    time_weight: float = 0.3
    diversity: float = 0.15
    diversity_top: int = 5

    @property
    def uses_context(self) -> bool:
        return bool(self.context_prev or self.context_prev2 or self.context_next or self.context_next2)

    @property
    def uses_rows(self) -> bool:
        """Whether fusion needs the candidates' neighbours and times (one more query)."""
        return self.uses_context or bool(
            self.episode_weight or self.date_weight or self.time_weight or self.question_discount or self.diversity
        )


DEFAULT_FUSION = Fusion()
BM25_K1 = 1.2
BM25_B = 0.3  # short passages: weak length normalisation ranks better on LoCoMo (0.75 is the textbook value)
# Coordination: a row's BM25 × (the share of the query's words it holds) ** BM25_COORD, so a row holding most of the
# query's words outranks one that repeats a single rare word (Lucene's classic `coord`, softened by the square root).
BM25_COORD = 0.5

# Query words that match nearly every row: they cost time and add nothing to a ranking.
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "did",
        "do",
        "does",
        "for",
        "from",
        "had",
        "has",
        "have",
        "he",
        "her",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "me",
        "my",
        "of",
        "on",
        "or",
        "our",
        "she",
        "so",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "they",
        "this",
        "to",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "you",
        "your",
    ]
)


@dataclass
class Scope:
    """SQL conditions on the alias `t` with their parameters: the rows a search may return."""

    table: str
    where: list[str] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)
    base: int = 0  # the leading conditions that pick the collection (organization + agent), one parameter each

    def add(self, condition: str, *params: Any) -> "Scope":
        self.where.append(condition)
        self.params.extend(params)
        return self

    def sql(self) -> str:
        return " AND ".join(self.where) or "TRUE"


def db_uuid(value: uuid.UUID | str) -> Any:
    value = value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    return value if connection.vendor == "postgresql" else value.hex


def db_datetime(value: dt.datetime) -> Any:
    return connection.ops.adapt_datetimefield_value(value)


def scope_for(
    table: str,
    *,
    organization_id: uuid.UUID,
    agent_id: uuid.UUID,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
) -> Scope:
    scope = Scope(table)
    scope.add("t.organization_id = %s", db_uuid(organization_id)).add("t.agent_id = %s", db_uuid(agent_id))
    scope.base = 2
    if start is not None:
        scope.add("t.created_at >= %s", db_datetime(start))
    if end is not None:
        scope.add("t.created_at <= %s", db_datetime(end))
    return scope


def add_tag_filter(scope: Scope, tags: list[str], mode: TagMatchMode) -> Scope:
    wanted = sorted(set(tags))
    if connection.vendor == "postgresql":
        return scope.add("t.tags ?& %s" if mode == "all" else "t.tags ?| %s", wanted)
    marks = ", ".join(["%s"] * len(wanted))
    if mode == "all":
        return scope.add(
            f"(SELECT COUNT(DISTINCT j.value) FROM json_each(t.tags) j WHERE j.value IN ({marks})) = %s",
            *wanted,
            len(wanted),
        )
    return scope.add(f"EXISTS (SELECT 1 FROM json_each(t.tags) j WHERE j.value IN ({marks}))", *wanted)


# -- full text -----------------------------------------------------------------------------------------------

_TSV_ITEM = re.compile(r"'((?:[^']|'')*)'(?::([0-9A-D,]+))?")


def _tsvector_counts(text: str) -> Counter[str]:
    counts: Counter[str] = Counter()
    for lexeme, positions in _TSV_ITEM.findall(text):
        counts[lexeme.replace("''", "'")] = len(positions.split(",")) if positions else 1
    return counts


def _quote_lexeme(lexeme: str) -> str:
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


COMMON_LEXEME_FREQUENCY = 0.05  # in more than 5 % of a table's rows


class _Expiring(Generic[V]):
    """Values kept for `ttl` seconds, per process (at most 10,000 keys: past that all are dropped)."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._items: dict[tuple[Any, ...], tuple[float, V]] = {}

    def get(self, key: tuple[Any, ...]) -> V | None:
        item = self._items.get(key)
        return item[1] if item is not None and time.monotonic() - item[0] < self.ttl else None

    def put(self, key: tuple[Any, ...], value: V) -> V:
        if len(self._items) > 10_000:
            self._items.clear()
        self._items[key] = (time.monotonic(), value)
        return value


def _collection(scope: Scope) -> tuple[tuple[Any, ...], str, list[Any]]:
    """The collection a scope searches (its first `scope.base` conditions: the agent): a cache key, its SQL
    condition and parameters."""
    where, params = scope.where[: scope.base], scope.params[: scope.base]
    return (connection.alias, scope.table, *where, *map(str, params)), " AND ".join(where) or "TRUE", params


_common_lexeme_cache: _Expiring[dict[str, float]] = _Expiring(600.0)


def _common_lexemes(table: str) -> dict[str, float]:
    """Words in more than COMMON_LEXEME_FREQUENCY of the table's rows, from ANALYZE's statistics (cached)."""
    key = (connection.alias, table)
    cached = _common_lexeme_cache.get(key)
    if cached is not None:
        return cached
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT most_common_elems::text::text[], most_common_elem_freqs FROM pg_stats "
            "WHERE tablename = %s AND attname = 'search_tsv'",
            [table],
        )
        row = cursor.fetchone()
    common: dict[str, float] = {}
    if row is not None and row[0] is not None:
        common = {e: f for e, f in zip(row[0], row[1], strict=False) if f > COMMON_LEXEME_FREQUENCY}
    return _common_lexeme_cache.put(key, common)


_size_cache: _Expiring[int] = _Expiring(60.0)


def _collection_size(scope: Scope) -> int:
    """Rows of the agent (the first `scope.base` conditions), for BM25's IDF; cached for a minute."""
    key, where, params = _collection(scope)
    cached = _size_cache.get(key)
    if cached is not None:
        return cached
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {scope.table} t WHERE {where}", params)
        return _size_cache.put(key, int(cursor.fetchone()[0]))


def _text_ranking_postgres(scope: Scope, query: str, depth: int) -> list[tuple[Any, float]]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT to_tsvector('{ddl.TEXT_CONFIG}'::regconfig, %s)::text", [query])
        terms = [t for t in _tsvector_counts(cursor.fetchone()[0]) if t not in STOPWORDS]
        if not terms:
            return []
        # Rows are gathered by the query's rarer words when it has any (a word in most rows would pull in most
        # of a big table to rank); every word still counts in the BM25 score of the rows gathered.
        common = _common_lexemes(scope.table)
        gather = [t for t in terms if t not in common] or terms
        tsquery = " | ".join(_quote_lexeme(t) for t in gather)
        frequent = [t for t in terms if t in common]
        # BM25 in one statement, over the best TEXT_CANDIDATES matches by ts_rank: each candidate's tsvector is
        # unnested once (its length in words, and the query words it holds with their counts); a word's document
        # frequency is the number of candidates holding it (all matches when there are fewer than
        # TEXT_CANDIDATES), or for a common word not gathered by, at least its table-wide frequency × N; the sum is
        # scaled by the share of the query's words held (BM25_COORD). Only the best `depth` rows leave the database.
        cursor.execute(
            f"""
            WITH c AS MATERIALIZED (
                SELECT m.id, m.r, s.len, s.lex, s.tf FROM (
                    SELECT t.id, t.search_tsv, ts_rank(t.search_tsv, %s::tsquery) AS r FROM {scope.table} t
                    WHERE {scope.sql()} AND t.search_tsv @@ %s::tsquery ORDER BY r DESC LIMIT {TEXT_CANDIDATES}
                ) m CROSS JOIN LATERAL (
                    SELECT greatest(1, sum(cardinality(u.positions))) AS len,
                        array_agg(u.lexeme) FILTER (WHERE u.lexeme = ANY(%s)) AS lex,
                        array_agg(cardinality(u.positions)) FILTER (WHERE u.lexeme = ANY(%s)) AS tf
                    FROM unnest(m.search_tsv) u
                ) s
            ),
            n AS (SELECT greatest(%s, count(*))::float8 AS total, avg(c.len)::float8 AS avgdl FROM c),
            e AS (
                SELECT c.id, c.r, c.len, x.lex, x.tf, count(*) OVER (PARTITION BY x.lex) AS df
                FROM c CROSS JOIN LATERAL unnest(c.lex, c.tf) x(lex, tf)
            ),
            w AS (
                SELECT e.id, e.r, e.len, e.tf, n.total, n.avgdl,
                    greatest(e.df, floor(coalesce(k.freq, 0) * n.total)) AS df
                FROM e CROSS JOIN n LEFT JOIN unnest(%s::text[], %s::float8[]) k(lex, freq) ON k.lex = e.lex
            )
            SELECT w.id, sum(
                ln(1 + (w.total - w.df + 0.5) / (w.df + 0.5)) * w.tf * {BM25_K1 + 1.0}
                / (w.tf + {BM25_K1} * (1 - {BM25_B} + {BM25_B} * w.len / w.avgdl))
            ) * power(count(*) / %s::float8, {BM25_COORD}) AS score
            FROM w GROUP BY w.id ORDER BY score DESC, max(w.r) DESC, w.id LIMIT %s
            """,
            [
                tsquery,
                *scope.params,
                tsquery,
                terms,
                terms,
                _collection_size(scope),
                frequent,
                [common[t] for t in frequent],
                len(terms),
                depth,
            ],
        )
        return [(pk, float(score)) for pk, score in cursor.fetchall()]


def _fts5_words(query: str) -> list[str]:
    return list(dict.fromkeys(w for w in re.findall(r"\w+", query.lower()) if w not in STOPWORDS))


def _fts5_query(query: str) -> str:
    return " OR ".join('"' + w + '"' for w in _fts5_words(query))


def _sqlite_vocabulary(cursor: Any, fts: str) -> None:
    """This connection's temporary views of the FTS5 index (`fts5vocab`: each term's occurrences, each term's row
    count) and a contentless FTS5 table with the index's tokenizer, to turn query words into the index's terms."""
    for statement in (
        f"CREATE VIRTUAL TABLE IF NOT EXISTS temp.{fts}_instance USING fts5vocab(main, {fts}, 'instance')",
        f"CREATE VIRTUAL TABLE IF NOT EXISTS temp.{fts}_row USING fts5vocab(main, {fts}, 'row')",
        f"CREATE VIRTUAL TABLE IF NOT EXISTS temp.engram_terms USING fts5(text, content='', "
        f"tokenize='{ddl.FTS5_TOKENIZE}')",
        "CREATE VIRTUAL TABLE IF NOT EXISTS temp.engram_terms_instance USING fts5vocab(temp, engram_terms, 'instance')",
    ):
        cursor.execute(statement)


def _sqlite_terms(cursor: Any, words: list[str]) -> list[str]:
    cursor.execute("INSERT INTO temp.engram_terms(engram_terms) VALUES ('delete-all')")
    cursor.execute("INSERT INTO temp.engram_terms(rowid, text) VALUES (1, %s)", [" ".join(words)])
    cursor.execute("SELECT term FROM temp.engram_terms_instance ORDER BY offset")
    return list(dict.fromkeys(row[0] for row in cursor.fetchall()))


def _varint(blob: bytes) -> int:
    """The first SQLite varint of `blob` (FTS5's `_docsize` holds one per column: the row's length in tokens)."""
    value = 0
    for i, byte in enumerate(blob[:9]):
        if i == 8:
            return (value << 8) | byte
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            break
    return value


def _text_ranking_sqlite(scope: Scope, query: str, depth: int) -> list[tuple[Any, float]]:
    match = _fts5_query(query)
    if not match:
        return []
    fts = ddl.fts_table(scope.table)
    with connection.cursor() as cursor:
        # Candidates: the best TEXT_CANDIDATES matches by FTS5's bm25() (its b is fixed at 0.75), re-scored below
        # with BM25_K1 and BM25_B from each candidate's term counts (fts5vocab) and length in tokens (_docsize).
        cursor.execute(
            f"SELECT t.id, t.rowid FROM {fts} JOIN {scope.table} t ON t.rowid = {fts}.rowid "
            f"WHERE {fts} MATCH %s AND {scope.sql()} ORDER BY bm25({fts}) LIMIT {TEXT_CANDIDATES}",
            [match, *scope.params],
        )
        candidates = cursor.fetchall()
        if not candidates:
            return []
        _sqlite_vocabulary(cursor, fts)
        terms = _sqlite_terms(cursor, _fts5_words(query))
        rowids = json.dumps([rowid for _, rowid in candidates])
        term_marks = ", ".join(["%s"] * len(terms))
        cursor.execute(
            f"SELECT doc, term, count(*) FROM temp.{fts}_instance WHERE term IN ({term_marks}) "
            "AND doc IN (SELECT value FROM json_each(%s)) GROUP BY doc, term",
            [*terms, rowids],
        )
        counts: dict[int, dict[str, int]] = {}
        for doc, term, tf in cursor.fetchall():
            counts.setdefault(doc, {})[term] = tf
        cursor.execute(f"SELECT id, sz FROM {fts}_docsize WHERE id IN (SELECT value FROM json_each(%s))", [rowids])
        lengths = {doc: max(1, _varint(size)) for doc, size in cursor.fetchall()}
        # As on PostgreSQL: N = the agent's rows, avgdl and df over the candidates; when the candidates were cut at
        # TEXT_CANDIDATES, a word in more than COMMON_LEXEME_FREQUENCY of the table's rows has at least that
        # share of N as its df.
        total = float(max(_collection_size(scope), len(candidates)))
        avgdl = sum(lengths.get(rowid, 1) for _, rowid in candidates) / len(candidates)
        df = Counter(term for doc_counts in counts.values() for term in doc_counts)
        if len(candidates) == TEXT_CANDIDATES:
            rows = _collection_size(Scope(scope.table))
            cursor.execute(f"SELECT term, doc FROM temp.{fts}_row WHERE term IN ({term_marks})", terms)
            for term, docs in cursor.fetchall():
                if docs > COMMON_LEXEME_FREQUENCY * rows:
                    df[term] = max(df[term], math.floor(docs / rows * total))
    idf = {term: math.log(1 + (total - n + 0.5) / (n + 0.5)) for term, n in df.items()}
    scored = []
    for order, (pk, rowid) in enumerate(candidates):
        norm = BM25_K1 * (1 - BM25_B + BM25_B * lengths.get(rowid, 1) / avgdl)
        held = counts.get(rowid, {})
        score = sum(idf[term] * tf * (BM25_K1 + 1) / (tf + norm) for term, tf in held.items())
        score *= (len(held) / (len(terms) or 1)) ** BM25_COORD
        scored.append((-score, order, pk))
    scored.sort()
    return [(pk, -negative) for negative, _, pk in scored[:depth]]


def text_ranking(scope: Scope, query: str, depth: int) -> list[tuple[Any, float]]:
    if connection.vendor == "postgresql":
        return _text_ranking_postgres(scope, query, depth)
    return _text_ranking_sqlite(scope, query, depth)


# -- vectors ---------------------------------------------------------------------------------------------------


# SQLite: each agent's vectors as one float32 matrix (with the rows' ids and rowids), kept between searches while
# the agent's version (bumped by triggers on every insert, delete and embedding write, from any process) is unchanged.
_matrix_cache: dict[tuple[Any, ...], tuple[Any, list[Any], Any, Vector]] = {}
_MATRIX_CACHE_ROWS = 2_000_000


def _sqlite_matrix(scope: Scope, model: str, dim: int) -> tuple[list[Any], Any, Vector]:
    base_where = " AND ".join(scope.where[: scope.base]) or "TRUE"
    base_params = scope.params[: scope.base]
    condition = f"t.embedding_dim = %s AND t.embedding_model = %s AND {base_where}"
    params = [dim, model, *base_params]
    agents = [p for w, p in zip(scope.where[: scope.base], base_params, strict=True) if w == "t.agent_id = %s"]
    key = (connection.alias, scope.table, condition, *map(str, params))
    with connection.cursor() as cursor:
        version = None
        if agents:  # a scope without an agent is never cached
            cursor.execute(
                f"SELECT version FROM {ddl.VERSION_TABLE} WHERE tbl = %s AND agent_id = %s", [scope.table, agents[0]]
            )
            row = cursor.fetchone()
            version = (row[0] if row is not None else None,)
            cached = _matrix_cache.get(key)
            if cached is not None and cached[0] == version:
                return cached[1], cached[2], cached[3]
        cursor.execute(f"SELECT t.id, t.rowid, t.embedding FROM {scope.table} t WHERE {condition}", params)
        rows = cursor.fetchall()
    ids = [pk for pk, _, _ in rows]
    rowids = np.fromiter((rowid for _, rowid, _ in rows), dtype=np.int64, count=len(rows))
    matrix: Vector = np.frombuffer(b"".join(bytes(blob) for _, _, blob in rows), dtype="<f4").reshape(len(rows), dim)
    if sum(len(entry[1]) for entry in _matrix_cache.values()) + len(ids) > _MATRIX_CACHE_ROWS:
        _matrix_cache.clear()
    if version is not None:
        _matrix_cache[key] = (version, ids, rowids, matrix)
    return ids, rowids, matrix


def _best_first(similarity: Vector, count: int) -> Any:
    """Indexes of the `count` highest similarities, best first."""
    if len(similarity) > count:
        candidates = np.argpartition(-similarity, count)[:count]
        return candidates[np.argsort(-similarity[candidates], kind="stable")]
    return np.argsort(-similarity, kind="stable")


def _sqlite_passing(scope: Scope, rowids: Any, *, every_row: bool = False) -> Any:
    """Which of `rowids` pass all of the scope's conditions (a boolean mask): checked in SQL by primary key, or
    with `every_row` by one pass over the agent's rows."""
    with connection.cursor() as cursor:
        if every_row:
            cursor.execute(f"SELECT t.rowid FROM {scope.table} t WHERE {scope.sql()}", scope.params)
        else:
            cursor.execute(
                f"SELECT t.rowid FROM {scope.table} t WHERE t.rowid IN (SELECT value FROM json_each(%s)) "
                f"AND {scope.sql()}",
                ["[" + ",".join(map(str, rowids.tolist())) + "]", *scope.params],
            )
        passing = np.fromiter((row[0] for row in cursor.fetchall()), dtype=np.int64)
    return np.isin(rowids, passing)


def _sqlite_filtered_top(scope: Scope, rowids: Any, similarity: Vector, depth: int) -> Any:
    """Best-first indexes of the `depth` most similar rows that pass the scope's filters. Rows are checked in SQL
    in similarity order, a growing prefix at a time (4 × depth, then ×4), so a filter that most rows pass costs a
    few hundred primary-key lookups; past a quarter of the rows, all of them are checked at once."""
    size = 4 * depth
    while True:
        if size >= len(rowids) // 4:
            allowed = np.where(_sqlite_passing(scope, rowids, every_row=True), similarity, -np.inf)
            top = _best_first(allowed, depth)
            return top[np.isfinite(allowed[top])]
        prefix = _best_first(similarity, size)
        kept = prefix[_sqlite_passing(scope, rowids[prefix])]
        if len(kept) >= depth:
            return kept[:depth]
        size *= 4


def hnsw_ef_search(rows: int, depth: int) -> int:
    """HNSW candidate list size for an agent of `rows` rows: `depth` up to 100,000 rows, then one per 1,000 rows
    up to pgvector's 1,000 (at 1,000,000 generated clustered rows, 50 gives recall@10 0.81 against exact search,
    400 gives 0.95 and 1,000 gives 0.956; docs/benchmarks.md)."""
    return max(40, min(1000, max(depth, rows // 1000)))


# The HNSW settings each pooled PostgreSQL connection holds for its session (set once, outside transactions).
_hnsw_sessions: WeakKeyDictionary[Any, str] = WeakKeyDictionary()


def _hnsw_settings(cursor: Any, ef_search: int) -> None:
    """Iterative scans (they keep pulling from the HNSW index until enough rows pass the filters) and the
    candidate list size. Outside a transaction they are set for the connection's session, once per value; inside
    one, for that transaction only (a session setting made there would be undone by a rollback)."""
    value = str(ef_search)
    if connection.in_atomic_block:
        cursor.execute(
            "SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true), set_config('hnsw.ef_search', %s, true)",
            [value],
        )
    elif _hnsw_sessions.get(connection.connection) != value:
        cursor.execute(
            "SELECT set_config('hnsw.iterative_scan', 'relaxed_order', false), set_config('hnsw.ef_search', %s, false)",
            [value],
        )
        _hnsw_sessions[connection.connection] = value


def vector_ranking(scope: Scope, vector: Vector, model: str, depth: int) -> list[tuple[Any, float]]:
    dim = int(vector.shape[0])
    if connection.vendor == "postgresql":
        cast = f"t.embedding::vector({dim})"
        distance = f"{cast} <=> %s::vector({dim})"
        size = _collection_size(scope)
        with connection.cursor() as cursor:
            where = f"t.embedding_dim = {dim} AND t.embedding_model = %s AND {scope.sql()}"
            if size <= EXACT_SCAN_ROWS:
                # A small agent in a big table: scanning its rows exactly (through the agent index) beats walking
                # the shared HNSW graph past everyone else's rows, and its recall is 1. The planner cannot order
                # through the HNSW index from outside a subquery it may not flatten (OFFSET 0), so it reads the
                # agent's rows and sorts them.
                sql = (
                    f"SELECT s.id, s.distance FROM (SELECT t.id, {distance} AS distance FROM {scope.table} t "
                    f"WHERE {where} OFFSET 0) s ORDER BY s.distance LIMIT %s"
                )
                params = [vector_to_pg(vector), model, *scope.params, depth]
            else:
                _hnsw_settings(cursor, hnsw_ef_search(size, depth))
                sql = (
                    f"SELECT t.id, {distance} AS distance FROM {scope.table} t WHERE {where} "
                    f"ORDER BY {distance} LIMIT %s"
                )
                params = [vector_to_pg(vector), model, *scope.params, vector_to_pg(vector), depth]
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        ranked = [(pk, 1.0 - float(distance)) for pk, distance in rows]
    else:
        ids, rowids, matrix = _sqlite_matrix(scope, model, dim)
        if not ids:
            return []
        similarity = matrix @ vector.astype(np.float32)
        if len(scope.where) > scope.base:  # filters beyond the agent: only rows passing them may rank
            top = _sqlite_filtered_top(scope, rowids, similarity, depth)
        else:
            top = _best_first(similarity, depth)
        ranked = [(ids[i], float(similarity[i])) for i in top]
    ranked.sort(key=lambda item: -item[1])  # relaxed_order may return near-ties out of order
    return ranked


# -- the query as embedded -------------------------------------------------------------------------------------

COMMON_WORD_SHARE = 0.2  # a word in more than this share of the agent's rows is left out of the embedded query
COMMON_WORD_SAMPLE = 1000  # the agent's newest rows read to tell them (the first 500 characters of each)
COMMON_WORD_MIN_ROWS = 50  # fewer rows tell nothing: the query is embedded as it is
_WORD = re.compile(r"[^\W_]+")
_common_word_cache: _Expiring[frozenset[str]] = _Expiring(600.0)


def _common_words(scope: Scope) -> frozenset[str]:
    """Words (lower case) in more than COMMON_WORD_SHARE of the collection's newest COMMON_WORD_SAMPLE rows (the
    first `scope.base` conditions: the agent), cached for 10 minutes."""
    key, where, params = _collection(scope)
    cached = _common_word_cache.get(key)
    if cached is not None:
        return cached
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT substr(t.text, 1, 500) FROM {scope.table} t WHERE {where} "
            f"ORDER BY t.created_at DESC LIMIT {COMMON_WORD_SAMPLE}",
            params,
        )
        texts = [row[0] for row in cursor.fetchall()]
    if len(texts) < COMMON_WORD_MIN_ROWS:
        return frozenset()  # not cached: a young collection grows
    rows: Counter[str] = Counter()
    for text in texts:
        rows.update(set(_WORD.findall(text.lower())))
    return _common_word_cache.put(
        key, frozenset(word for word, n in rows.items() if n > COMMON_WORD_SHARE * len(texts))
    )


def embedding_query(scope: Scope, query: str) -> str:
    """The query as embedded for vector search: without the words that most of the collection's rows hold (such as
    the name of the person every memory is about), which would otherwise pull every row alike towards the query;
    stop words stay (a question embeds closer to its answer as a question). The query as it is when nothing
    else would be left."""
    common = _common_words(scope)
    if not common:
        return query
    kept = [
        part
        for part in re.findall(r"[^\W_]+|[\W_]+", query)
        if not (_WORD.fullmatch(part) and part.lower() in common and part.lower() not in STOPWORDS)
    ]
    stripped = re.sub(r"\s+", " ", "".join(kept)).strip()
    return stripped if _WORD.search(stripped) else query


# -- fusion ----------------------------------------------------------------------------------------------------


def _normalised(ranking: list[tuple[Any, float]]) -> dict[Any, float]:
    if not ranking:
        return {}
    high, low = ranking[0][1], ranking[-1][1]
    spread = high - low
    return {pk: (score - low) / spread if spread > 0 else 1.0 for pk, score in ranking}


def fuse(
    text: list[tuple[Any, float]], vector: list[tuple[Any, float]], fusion: Fusion = DEFAULT_FUSION
) -> list[tuple[Any, float]]:
    """Both rankings best-first; returns the fused ranking best-first."""
    scores: dict[Any, float] = {}
    for weight, ranking in ((fusion.text_weight, text), (fusion.vector_weight, vector)):
        if fusion.method == "rrf":
            for rank, (pk, _score) in enumerate(ranking, start=1):
                scores[pk] = scores.get(pk, 0.0) + weight / (fusion.k + rank)
        else:
            for pk, score in _normalised(ranking).items():
                scores[pk] = scores.get(pk, 0.0) + weight * score
    return sorted(scores.items(), key=lambda item: -item[1])


@dataclass(frozen=True)
class Around:
    """A candidate's time and its neighbours in (created_at, id) order within the search's filters, and the start of
    its text."""

    created_at: dt.datetime | None
    prev: Any = None
    prev2: Any = None
    next: Any = None
    next2: Any = None
    head: str = ""


HEAD_CHARS = 2000  # of each candidate's text, read with its neighbours: enough to tell a question or a time


def neighbours(scope: Scope, ids: list[Any]) -> dict[Any, Around]:
    """Each id's created_at, the two rows before and after it, in (created_at, id) order within `scope`, and its
    first HEAD_CHARS characters: one query."""
    if not ids:
        return {}
    # Row-value comparisons walk the (agent_id, created_at, id) index from the candidate outwards. The agent implies
    # the organization, so that condition is left out: with statistics that predate a big import, PostgreSQL
    # otherwise combined the organization and agent indexes and sorted the agent's rows for every look-up (20,600
    # fresh rows: 74 ms instead of 2).
    conditions, params = scope.where, scope.params
    if conditions[:2] == ["t.organization_id = %s", "t.agent_id = %s"]:
        conditions, params = conditions[1:], params[1:]
    where = " AND ".join(conditions)
    before = "(t.created_at, t.id) < (c.created_at, c.id)"
    after = "(t.created_at, t.id) > (c.created_at, c.id)"

    def pick(condition: str, order: str, offset: int) -> str:
        return (
            f"(SELECT t.id FROM {scope.table} t WHERE {where} AND {condition} "
            f"ORDER BY t.created_at {order}, t.id {order} LIMIT 1 OFFSET {offset})"
        )

    marks = ", ".join(["%s"] * len(ids))
    sql = (
        f"SELECT c.id, c.created_at, {pick(before, 'DESC', 0)}, {pick(before, 'DESC', 1)}, "
        f"{pick(after, 'ASC', 0)}, {pick(after, 'ASC', 1)}, substr(c.text, 1, {HEAD_CHARS}) "
        f"FROM {scope.table} c WHERE c.id IN ({marks})"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params * 4, *ids])
        rows = cursor.fetchall()
    return {pk: Around(_aware(created_at), *others) for pk, created_at, *others in rows}


def _aware(value: Any) -> dt.datetime | None:
    """A created_at read by raw SQL: SQLite gives text or a naive datetime, both in UTC."""
    if isinstance(value, str):
        value = parse_datetime(value)
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return None


def asks_question(text: str) -> bool:
    """Whether the text's last sentence mark is a question mark ("Great! What did you paint?")."""
    end = max(text.rfind("."), text.rfind("!"), text.rfind("?"))
    return end >= 0 and text[end] == "?"


def add_context(
    fused: list[tuple[Any, float]], around: dict[Any, Around], fusion: Fusion, depth: int
) -> tuple[list[tuple[Any, float]], dict[Any, dt.datetime | None]]:
    """score(x) = fused(x) + context_prev × fused(prev x) + context_prev2 × fused(prev prev x)
    + context_next × fused(next x) + context_next2 × fused(next next x), over the top `depth` fused rows and the
    rows up to two away from them; a row that asks a question keeps 1 − question_discount of fused(x) and passes
    context_prev + question_reply of it to the row after it. Also returns each scored row's time (a row lifted only
    by a neighbour takes that neighbour's)."""
    own = dict(fused[:depth])
    asking = {pk for pk, row in around.items() if pk in own and asks_question(row.head)}
    scores = {pk: score * (1.0 - fusion.question_discount) if pk in asking else score for pk, score in own.items()}
    times: dict[Any, dt.datetime | None] = {}

    def after(pk: Any) -> float:  # the share of pk's score that the row after it receives
        return fusion.context_prev + (fusion.question_reply if pk in asking else 0.0)

    for pk, row in around.items():
        if pk not in own:
            continue
        times[pk] = row.created_at
        scores[pk] += (
            (after(row.prev) * own[row.prev] if row.prev in own else 0.0)
            + fusion.context_prev2 * own.get(row.prev2, 0.0)
            + fusion.context_next * own.get(row.next, 0.0)
            + fusion.context_next2 * own.get(row.next2, 0.0)
        )
        # Rows just outside the candidates, lifted by a candidate next to them (it is their prev, next, ...).
        for other, weight in (
            (row.next, after(pk)),
            (row.next2, fusion.context_prev2),
            (row.prev, fusion.context_next),
            (row.prev2, fusion.context_next2),
        ):
            if other is not None and other not in own and weight:
                scores[other] = scores.get(other, 0.0) + weight * own[pk]
                times.setdefault(other, row.created_at)
    return sorted(scores.items(), key=lambda item: -item[1]), times


def episodes(times: dict[Any, dt.datetime | None], gap: float) -> dict[Any, int]:
    """Each dated row's episode: rows written less than `gap` seconds apart, chained in time, share one."""
    episode: dict[Any, int] = {}
    current, last = 0, None
    for moment, pk in sorted((t, pk) for pk, t in times.items() if t is not None):
        if last is not None and (moment - last).total_seconds() > gap:
            current += 1
        episode[pk] = current
        last = moment
    return episode


def episode_boost(
    ranked: list[tuple[Any, float]], times: dict[Any, dt.datetime | None], fusion: Fusion
) -> list[tuple[Any, float]]:
    """Adds episode_weight × (episode mass / best episode mass) × best score to every row (see `Fusion`)."""
    if not ranked or not fusion.episode_weight:
        return ranked
    episode = episodes(times, fusion.episode_gap)
    members: dict[Any, list[float]] = {}
    for pk, score in ranked:
        members.setdefault(episode.get(pk, ("alone", pk)), []).append(score)
    mass = {key: sum(sorted(scores, reverse=True)[: fusion.episode_top]) for key, scores in members.items()}
    best_mass = max(mass.values())
    if best_mass <= 0:
        return ranked
    lift = fusion.episode_weight * ranked[0][1] / best_mass
    boosted = [(pk, score + lift * mass[episode.get(pk, ("alone", pk))]) for pk, score in ranked]
    return sorted(boosted, key=lambda item: -item[1])


def diversify(
    ranked: list[tuple[Any, float]], times: dict[Any, dt.datetime | None], fusion: Fusion
) -> list[tuple[Any, float]]:
    """Fills the first `diversity_top` places one at a time with the row of the best score × (1 − diversity) ** (rows
    already placed from its episode); the others follow in score order. Scores are unchanged, so they need not
    decrease within those first places."""
    if not fusion.diversity or len(ranked) < 2:
        return ranked
    episode = episodes(times, fusion.episode_gap)
    keep = 1.0 - fusion.diversity
    pool = list(ranked)  # best first
    placed: list[tuple[Any, float]] = []
    taken: Counter[Any] = Counter()
    for _ in range(min(fusion.diversity_top, len(pool))):
        best, best_value = 0, -math.inf
        for i, (pk, score) in enumerate(pool):
            if score <= best_value:  # a discount only lowers a score: no later row can do better
                break
            value = score * keep ** taken[episode.get(pk, ("alone", pk))]
            if value > best_value:
                best, best_value = i, value
        pk, score = pool.pop(best)
        placed.append((pk, score))
        taken[episode.get(pk, ("alone", pk))] += 1
    return placed + pool


def date_boost(
    ranked: list[tuple[Any, float]], times: dict[Any, dt.datetime | None], windows: list[DateWindow], weight: float
) -> list[tuple[Any, float]]:
    """Adds weight × the best score to the rows created within a date the query names."""
    if not ranked or not windows or not weight:
        return ranked
    lift = weight * ranked[0][1]
    boosted = []
    for pk, score in ranked:
        moment = times.get(pk)
        boosted.append((pk, score + lift if moment is not None and in_any(windows, moment) else score))
    return sorted(boosted, key=lambda item: -item[1])


def time_boost(
    ranked: list[tuple[Any, float]], around: dict[Any, Around], query: str, weight: float
) -> list[tuple[Any, float]]:
    """When the query asks when, adds weight × the best score to the candidates whose text mentions a time."""
    if not ranked or not weight or not asks_when(query):
        return ranked
    lift = weight * ranked[0][1]
    timed = {pk for pk, row in around.items() if mentions_time(row.head)}
    return sorted(((pk, score + lift if pk in timed else score) for pk, score in ranked), key=lambda item: -item[1])


def rerank(
    fused: list[tuple[Any, float]], around: dict[Any, Around], fusion: Fusion, depth: int, query: str
) -> list[tuple[Any, float]]:
    """Context, question, episode, date and time adjustments of a fused ranking, then episode diversity in its first
    places, given the candidates' rows (`neighbours`)."""
    ranked, times = add_context(fused, around, fusion, depth)
    ranked = episode_boost(ranked, times, fusion)
    ranked = date_boost(ranked, times, query_date_windows(query), fusion.date_weight)
    ranked = time_boost(ranked, around, query, fusion.time_weight)
    return diversify(ranked, times, fusion)


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


def passage_search(
    *,
    agent: AgentLike,
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
    """Best-first passages of this agent only. Raises ValidationError on bad input, EmbeddingError when vector
    mode cannot embed the query."""
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
    scope = scope_for(
        Passage._meta.db_table, organization_id=agent.organization_id, agent_id=agent.id, start=start, end=end
    )
    if tags:
        add_tag_filter(scope, tags, tag_match_mode)
    ranked = ranked_ids(
        scope=scope, query=query, mode=mode, embedding_model=agent.embedding, limit=offset + top_k, fusion=fusion
    )[offset:]
    rows = Passage.objects.defer("embedding").in_bulk([pk for pk, _ in ranked])
    return [PassageHit(passage=rows[pk], score=score) for pk, score in ranked if pk in rows]


__all__ = ["Fusion", "PassageHit", "Scope", "passage_search", "ranked_ids", "vector_from_db"]
