# ruff: noqa: S608 - SQL here interpolates only table names from code and validated integers; values are bound.
"""Text ranking: BM25 over PostgreSQL full-text candidates (search_tsv) or SQLite FTS5, scored the same way on both."""

import json
import logging
import math
import re
import threading
from collections import Counter
from collections.abc import Collection
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
        ranked = _bm25_postgres(cursor, scope, terms, gather, common, depth)
        if not ranked and gather != terms:  # the rarer words are in no row: the common ones gather instead
            ranked = _bm25_postgres(cursor, scope, terms, [t for t in terms if t in common], common, depth)
        return ranked


def _bm25_postgres(
    cursor: Any, scope: Scope, terms: list[str], gather: list[str], common: dict[str, float], depth: int
) -> list[tuple[Any, float]]:
    """BM25 of the query's `terms` over the rows holding any of the words in `gather`: the best `depth`."""
    tsquery = " | ".join(_quote_lexeme(t) for t in gather)
    frequent = [t for t in terms if t in common]
    if scope.newest_first and all(t in common for t in gather):
        # Only common words: the GIN index would list most of the agent's rows. The agent's newest rows are
        # read instead (through its index on created_at, not the GIN index) until as many match as are scored
        # (TEXT_CANDIDATES, or TEXT_MATCHES when smaller; as on SQLite): with every word in over
        # COMMON_LEXEME_FREQUENCY of the rows that is a short walk. (With LIMIT 2,000 the planner chose to read and
        # sort a whole 10,000-row folder instead: 45 ms against 0.3.)
        matches = (
            f"SELECT t.id, t.search_tsv FROM {scope.table} t WHERE {scope.sql()} "
            f"AND ts_match_vq(t.search_tsv, %s::tsquery) ORDER BY {scope.newest_first} DESC "
            f"LIMIT {min(TEXT_MATCHES, TEXT_CANDIDATES)}"
        )
    else:
        matches = (
            f"SELECT t.id, t.search_tsv FROM {scope.table} t WHERE {scope.sql()} "
            f"AND t.search_tsv @@ %s::tsquery LIMIT {TEXT_MATCHES}"
        )
    # BM25 in one statement, over the best TEXT_CANDIDATES by ts_rank of at most TEXT_MATCHES matches. A
    # candidate's length in words is its ts_rank over its ts_rank divided by the length (normalization 2), and
    # only the query's words are unnested (setweight marks them, ts_filter keeps them, with their counts): both
    # in C, where unnesting every word of a long chunk took most of the statement's time. A word's document
    # frequency is the number of candidates holding it (all matches when there are fewer than TEXT_CANDIDATES),
    # or for a common word not gathered by, at least its table-wide frequency × N; the sum is scaled by the share
    # of the query's words held (BM25_COORD). Only the best `depth` rows leave the database.
    cursor.execute(
        f"""
        WITH c AS MATERIALIZED (
            SELECT m.id, m.r, greatest(1, round(m.r / nullif(m.r_per_word, 0)))::int AS len, s.lex, s.tf FROM (
                SELECT b.id, b.search_tsv, ts_rank(b.search_tsv, %s::tsquery) AS r,
                    ts_rank(b.search_tsv, %s::tsquery, 2) AS r_per_word
                FROM ({matches}) b ORDER BY r DESC LIMIT {TEXT_CANDIDATES}
            ) m CROSS JOIN LATERAL (
                SELECT array_agg(u.lexeme) AS lex, array_agg(cardinality(u.positions)) AS tf
                FROM unnest(ts_filter(setweight(m.search_tsv, 'A', %s), '{{a}}')) u
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
            tsquery,
            *scope.params,
            tsquery,
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


def _fts5_phrase(word: str) -> str:
    return '"' + word + '"'


# SQLite: each term's rows in the whole table (fts5vocab 'row', which reads all of a term's entries), per table.
_term_rows_cache: _Expiring[dict[str, int]] = _Expiring(600.0)
# Each piece of a query (split at whitespace, a separator for FTS5's unicode61 tokenizer, so no token is cut)
# turned into its terms by FTS5 itself, once per process.
_piece_terms: dict[str, tuple[str, ...]] = {}
_pieces_lock = threading.Lock()
MAX_PIECES = 200_000


def _sqlite_vocabulary(cursor: Any, fts: str) -> None:
    """This connection's temporary views: each term's row count in the FTS5 index (`fts5vocab` 'row'), and a
    contentless FTS5 table with the index's tokenizer, to turn text into the index's terms and count them."""
    for statement in (
        f"CREATE VIRTUAL TABLE IF NOT EXISTS temp.{fts}_row USING fts5vocab(main, {fts}, 'row')",
        f"CREATE VIRTUAL TABLE IF NOT EXISTS temp.engram_terms USING fts5(text, content='', "
        f"tokenize='{ddl.FTS5_TOKENIZE}')",
        "CREATE VIRTUAL TABLE IF NOT EXISTS temp.engram_terms_instance USING fts5vocab(temp, engram_terms, 'instance')",
    ):
        cursor.execute(statement)


def _sqlite_terms(cursor: Any, pieces: Collection[str]) -> dict[str, tuple[str, ...]]:
    """Each piece's terms as the FTS5 index holds them (in order), learnt once per process. Call after
    `_sqlite_vocabulary`."""
    with _pieces_lock:
        unknown = [piece for piece in pieces if piece not in _piece_terms]
        if unknown:
            cursor.execute("INSERT INTO temp.engram_terms(engram_terms) VALUES ('delete-all')")
            cursor.execute(
                "INSERT INTO temp.engram_terms(rowid, text) SELECT key + 1, value FROM json_each(%s)",
                [json.dumps(unknown)],
            )
            cursor.execute("SELECT doc, term FROM temp.engram_terms_instance ORDER BY doc, offset")
            learnt: dict[int, list[str]] = {}
            for doc, term in cursor.fetchall():
                learnt.setdefault(doc, []).append(term)
            if len(_piece_terms) + len(unknown) > MAX_PIECES:
                _piece_terms.clear()
            for i, piece in enumerate(unknown, start=1):
                _piece_terms[piece] = tuple(learnt.get(i, ()))
        return {piece: _piece_terms[piece] for piece in pieces}


def _sqlite_term_rows(cursor: Any, fts: str, table: str, terms: list[str]) -> dict[str, int]:
    """Rows of the whole table holding each term. Counts over TEXT_CANDIDATES are cached for 10 minutes, like
    PostgreSQL's ANALYZE statistics (counting a word's rows reads all of its entries); smaller ones are cheap to count
    and counted on every search, so a row just written is gathered by its words at once."""
    key = (connection.alias, table)
    known = _term_rows_cache.get(key)
    if known is None:
        known = _term_rows_cache.put(key, {})
    missing = [term for term in terms if term not in known]
    counted: dict[str, int] = {}
    if missing:
        cursor.execute(
            f"SELECT term, doc FROM temp.{fts}_row WHERE term IN ({', '.join(['%s'] * len(missing))})", missing
        )
        counted = {term: int(docs) for term, docs in cursor.fetchall()}
        known.update({term: docs for term, docs in counted.items() if docs > TEXT_CANDIDATES})
    return {term: known.get(term) or counted.get(term, 0) for term in terms}


def _term_counts(cursor: Any, table: str, rowids: str, terms: list[str]) -> dict[int, dict[str, int]]:
    """Each row's count of each of `terms`, as the FTS5 index counts them: the rows (`rowids`, a JSON list) are
    indexed again in this connection's contentless table, with the index's tokenizer, and their instances of the
    terms counted there (in C: splitting their text in Python took most of a search over long rows). Call after
    `_sqlite_vocabulary`."""
    cursor.execute("INSERT INTO temp.engram_terms(engram_terms) VALUES ('delete-all')")
    cursor.execute(
        f"INSERT INTO temp.engram_terms(rowid, text) SELECT t.rowid, t.text FROM {table} t "
        "WHERE t.rowid IN (SELECT value FROM json_each(%s))",
        [rowids],
    )
    cursor.execute(
        "SELECT doc, term, count(*) FROM temp.engram_terms_instance "
        f"WHERE term IN ({', '.join(['%s'] * len(terms))}) GROUP BY doc, term",
        terms,
    )
    counts: dict[int, dict[str, int]] = {}
    for doc, term, count in cursor.fetchall():
        counts.setdefault(doc, {})[term] = count
    return counts


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


def _fts5_rows(cursor: Any, fts: str) -> int:
    """Rows in the FTS5 index: the first varint of its 'averages' record (id 1), read at no cost and as current as
    the term counts."""
    cursor.execute(f"SELECT block FROM {fts}_data WHERE id = 1")
    row = cursor.fetchone()
    return _varint(bytes(row[0])) if row is not None and row[0] else 0


def _sqlite_candidates(
    cursor: Any, scope: Scope, fts: str, words: list[str], matches: dict[str, int], table_rows: int
) -> tuple[list[tuple[Any, int]], bool]:
    """The rows to score, and whether they are all of the scope's matches. Rows are gathered by the query's rarer
    words when it has some (a word in more than COMMON_LEXEME_FREQUENCY of the table's rows, and in more than
    TEXT_MATCHES, would pull in most of a big table). When the gathered words match at most TEXT_MATCHES rows of
    the whole table: the best TEXT_CANDIDATES of them by FTS5's `bm25()`. Otherwise the newest matches (by rowid,
    an FTS5 walk that stops there), as many as are scored (TEXT_CANDIDATES, or TEXT_MATCHES when smaller):
    `bm25()` would first read every match of every word to count them."""
    bound = max(COMMON_LEXEME_FREQUENCY * table_rows, TEXT_MATCHES)
    # A rarer word no row holds gathers nothing: the common words gather then.
    gather = [w for w in words if 0 < matches[w] <= bound] or words
    match = " OR ".join(_fts5_phrase(w) for w in gather)
    if sum(matches[w] for w in gather) <= TEXT_MATCHES:
        order, limit = f"bm25({fts})", TEXT_CANDIDATES
    else:
        order, limit = f"{fts}.rowid DESC", min(TEXT_MATCHES, TEXT_CANDIDATES)
    cursor.execute(
        f"SELECT t.id, t.rowid FROM {fts} JOIN {scope.table} t ON t.rowid = {fts}.rowid "
        f"WHERE {fts} MATCH %s AND {scope.sql()} ORDER BY {order} LIMIT {limit}",
        [match, *scope.params],
    )
    candidates = cursor.fetchall()
    return candidates, len(candidates) < limit


def _text_ranking_sqlite(scope: Scope, query: str, depth: int) -> list[tuple[Any, float]]:
    words = _fts5_words(query)
    if not words:
        return []
    fts = ddl.fts_table(scope.table)
    with connection.cursor() as cursor:
        _sqlite_vocabulary(cursor, fts)
        word_terms = {w: found for w, found in _sqlite_terms(cursor, words).items() if found}
        words = [w for w in words if w in word_terms]
        terms = list(dict.fromkeys(term for w in words for term in word_terms[w]))
        if not terms:
            return []
        rows = _sqlite_term_rows(cursor, fts, scope.table, terms)
        # A word of several terms ("e_mail") is a phrase: it matches at most as many rows as its rarest term.
        matches = {w: min(rows[term] for term in word_terms[w]) for w in words}
        table_rows = max(1, _fts5_rows(cursor, fts))
        candidates, complete = _sqlite_candidates(cursor, scope, fts, words, matches, table_rows)
        if not candidates:
            return []
        rowids = json.dumps([rowid for _, rowid in candidates])
        counts = _term_counts(cursor, scope.table, rowids, terms)
        cursor.execute(f"SELECT id, sz FROM {fts}_docsize WHERE id IN (SELECT value FROM json_each(%s))", [rowids])
        lengths = {doc: max(1, _varint(size)) for doc, size in cursor.fetchall()}
    # As on PostgreSQL: N = the agent's rows, avgdl and df over the candidates; when they are not all of the
    # matches, a word in more than COMMON_LEXEME_FREQUENCY of the table's rows has at least that share of N as its df.
    total = float(max(_collection_size(scope), len(candidates)))
    avgdl = sum(lengths.get(rowid, 1) for _, rowid in candidates) / len(candidates)
    df = Counter(term for doc_counts in counts.values() for term in doc_counts)
    if not complete:
        for term, docs in rows.items():
            if docs > COMMON_LEXEME_FREQUENCY * table_rows:
                df[term] = max(df[term], math.floor(min(1.0, docs / table_rows) * total))
    idf = {term: math.log(1 + (total - n + 0.5) / (n + 0.5)) for term, n in df.items()}
    scored = []
    for order, (pk, rowid) in enumerate(candidates):
        norm = BM25_K1 * (1 - BM25_B + BM25_B * lengths.get(rowid, 1) / avgdl)
        held = counts.get(rowid, {})
        score = sum(idf[term] * tf * (BM25_K1 + 1) / (tf + norm) for term, tf in held.items())
        score *= (len(held) / len(terms)) ** BM25_COORD
        scored.append((-score, order, pk))
    scored.sort()
    return [(pk, -negative) for negative, _, pk in scored[:depth]]


def text_ranking(scope: Scope, query: str, depth: int) -> list[tuple[Any, float]]:
    if connection.vendor == "postgresql":
        return _text_ranking_postgres(scope, query, depth)
    return _text_ranking_sqlite(scope, query, depth)


# -- vectors ---------------------------------------------------------------------------------------------------
