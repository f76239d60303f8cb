# ruff: noqa: S608 - SQL here interpolates only table names from code and validated integers; values are bound.
"""Text ranking: BM25 over PostgreSQL full-text candidates (search_tsv) or SQLite FTS5, scored the same way on both."""

import json
import logging
import math
import re
from collections import Counter
from typing import Any, TypeVar

from django.db import connection

from memory import ddl
from memory.search.scope import TEXT_CANDIDATES, TEXT_MATCHES, Scope, _collection_size, _Expiring

logger = logging.getLogger(__name__)
V = TypeVar("V")

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


_TSV_ITEM = re.compile(r"'((?:[^']|'')*)'(?::([0-9A-D,]+))?")


def _tsvector_counts(text: str) -> Counter[str]:
    counts: Counter[str] = Counter()
    for lexeme, positions in _TSV_ITEM.findall(text):
        counts[lexeme.replace("''", "'")] = len(positions.split(",")) if positions else 1
    return counts


def _quote_lexeme(lexeme: str) -> str:
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


COMMON_LEXEME_FREQUENCY = 0.05  # in more than 5 % of a table's rows


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
        if scope.newest_first and all(t in common for t in gather):
            # Only common words: the GIN index would list most of the agent's rows. The agent's newest rows are
            # read instead (through its index on created_at, not the GIN index) until TEXT_MATCHES of them match:
            # with every word in over COMMON_LEXEME_FREQUENCY of the rows that is a bounded walk.
            matches = (
                f"SELECT t.id, t.search_tsv FROM {scope.table} t WHERE {scope.sql()} "
                f"AND ts_match_vq(t.search_tsv, %s::tsquery) ORDER BY {scope.newest_first} DESC LIMIT {TEXT_MATCHES}"
            )
        else:
            matches = (
                f"SELECT t.id, t.search_tsv FROM {scope.table} t WHERE {scope.sql()} "
                f"AND t.search_tsv @@ %s::tsquery LIMIT {TEXT_MATCHES}"
            )
        # BM25 in one statement, over the best TEXT_CANDIDATES by ts_rank of at most TEXT_MATCHES matches: each
        # candidate's tsvector is unnested once (its length in words, and the query words it holds with their
        # counts); a word's document frequency is the number of candidates holding it (all matches when there are
        # fewer than TEXT_CANDIDATES), or for a common word not gathered by, at least its table-wide frequency × N;
        # the sum is scaled by the share of the query's words held (BM25_COORD). Only the best `depth` rows leave
        # the database.
        cursor.execute(
            f"""
            WITH c AS MATERIALIZED (
                SELECT m.id, m.r, s.len, s.lex, s.tf FROM (
                    SELECT b.id, b.search_tsv, ts_rank(b.search_tsv, %s::tsquery) AS r FROM ({matches}) b
                    ORDER BY r DESC LIMIT {TEXT_CANDIDATES}
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
