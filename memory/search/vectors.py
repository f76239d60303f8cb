# ruff: noqa: S608 - SQL here interpolates only table names from code and validated integers; values are bound.
"""Vector ranking: PostgreSQL HNSW (iterative scans) or an exact numpy scan over SQLite blobs, and the query text
that is embedded."""

import logging
import re
from collections import Counter
from typing import Any, TypeVar
from weakref import WeakKeyDictionary

import numpy as np
from django.db import connection

from memory import ddl
from memory.fields import Vector, vector_to_pg
from memory.search.scope import Scope, _collection, _collection_size, _Expiring
from memory.search.text import STOPWORDS

EXACT_SCAN_ROWS = 10_000  # PostgreSQL: agents with at most this many rows get an exact vector scan

logger = logging.getLogger(__name__)
V = TypeVar("V")


# SQLite: each collection's vectors (an agent's with those of the shared archives it searches, or a folder's) as one
# float32 matrix (with the rows' ids and rowids), kept between searches while the versions of its collections
# (bumped by triggers on every insert, delete and embedding write, from any process) are unchanged.
_matrix_cache: dict[tuple[Any, ...], tuple[Any, list[Any], Any, Vector]] = {}
_MATRIX_CACHE_ROWS = 2_000_000


def _sqlite_matrix(scope: Scope, model: str, dim: int) -> tuple[list[Any], Any, Vector]:
    base, base_params = scope.base_part()
    condition = f"t.embedding_dim = %s AND t.embedding_model = %s AND {' AND '.join(base) or 'TRUE'}"
    params = [dim, model, *base_params]
    key = (connection.alias, scope.table, condition, *map(str, params))
    with connection.cursor() as cursor:
        version = None
        if scope.collections:  # a scope without a collection (an organization-wide search) is never cached
            marks = ", ".join(["%s"] * len(scope.collections))
            cursor.execute(
                f"SELECT agent_id, version FROM {ddl.VERSION_TABLE} WHERE tbl = %s AND agent_id IN ({marks})",
                [scope.table, *scope.collections],
            )
            versions = dict(cursor.fetchall())
            version = tuple(versions.get(pk) for pk in scope.collections)
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


def _similarity(matrix: Vector, vector: Vector) -> Vector:
    """Each row's dot product with `vector`, in this thread. Not `matrix @ vector`: numpy's BLAS (OpenBLAS) splits a
    product this size across its own threads, which then spin waiting for more work while the search goes on, on
    a core other requests need (at 10,000 × 384: ~17 ms of a second core per SQLite file search, against 0.6 ms for
    the product itself; docs/benchmarks.md)."""
    similarity: Vector = np.einsum("ij,j->i", matrix, vector)
    return similarity


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
    up to 600. At 1,000,000 generated clustered rows (docs/benchmarks.md, ninth session), recall@10 against exact
    search is 0.941 at 400, 0.950 at 600 and 0.960 at 1,000, and 600 instead of 1,000 takes hybrid search through
    HTTP from p95 112 to 79 ms (the vector side's database time roughly halves)."""
    return max(40, min(600, max(depth, rows // 1000)))


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
        similarity = _similarity(matrix, vector.astype(np.float32))
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
