# ruff: noqa: S608 - SQL here interpolates only table names from code and validated integers; values are bound.
"""Search DDL for any table with `text`, `embedding` and `embedding_dim` columns, per database backend.

PostgreSQL: a generated `search_tsv` tsvector column with a GIN index, and one partial expression HNSW index per
embedding dimension in use (created on first use; never zero-padding). SQLite: an external-content FTS5 table kept
in sync by triggers. Django rebuilds a SQLite table for some schema changes, which drops its triggers and may
renumber rowids, so `ensure_search_schema` (run after every migrate) recreates missing triggers and rebuilds the
index then. SQLite also keeps a version per (table, agent or archive), bumped by triggers on every insert, delete and
embedding write from any process: search caches each agent's vector matrix against it (memory/search/).
"""

from django.db import connection as default_connection
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

TEXT_CONFIG = "english"
FTS5_TOKENIZE = "porter unicode61 remove_diacritics 2"
# Tables with search columns and the column naming each row's collection (the scope a search's cache and BM25
# statistics are kept per); ensure_search_schema keeps them indexed.
SEARCH_TABLES = {"memory_passage": "agent_id", "agents_message": "agent_id", "files_filechunk": "folder_id"}
_known_vector_indexes: set[tuple[str, str, int]] = set()
VERSION_TABLE = "engram_search_version"


def collection_key(table: str, columns: frozenset[str], row: str) -> str:
    """What a row is versioned by in VERSION_TABLE (whose `agent_id` column holds any collection's id): its
    collection column (SEARCH_TABLES: the agent, or a file chunk's folder), or, in a table with an `archive_id`
    column, the archive of a row that has no agent (a shared archive's passage). `row` is new, old or a table alias."""
    column = SEARCH_TABLES.get(table, "agent_id")
    return f"coalesce({row}.{column}, {row}.archive_id)" if "archive_id" in columns else f"{row}.{column}"


def fts_table(table: str) -> str:
    return f"{table}_fts"


def _sqlite_trigger_sql(table: str) -> list[str]:
    fts = fts_table(table)
    return [
        f"CREATE TRIGGER IF NOT EXISTS {fts}_ai AFTER INSERT ON {table} BEGIN "
        f"INSERT INTO {fts}(rowid, text) VALUES (new.rowid, new.text); END",
        f"CREATE TRIGGER IF NOT EXISTS {fts}_ad AFTER DELETE ON {table} BEGIN "
        f"INSERT INTO {fts}({fts}, rowid, text) VALUES ('delete', old.rowid, old.text); END",
        f"CREATE TRIGGER IF NOT EXISTS {fts}_au AFTER UPDATE OF text ON {table} BEGIN "
        f"INSERT INTO {fts}({fts}, rowid, text) VALUES ('delete', old.rowid, old.text); "
        f"INSERT INTO {fts}(rowid, text) VALUES (new.rowid, new.text); END",
    ]


def _sqlite_version_trigger_sql(table: str, columns: frozenset[str]) -> list[str]:
    def bump(row: str) -> str:
        return (
            f"INSERT INTO {VERSION_TABLE}(tbl, agent_id, version) "
            f"VALUES ('{table}', {collection_key(table, columns, row)}, 1) "
            "ON CONFLICT(tbl, agent_id) DO UPDATE SET version = version + 1;"
        )

    column = SEARCH_TABLES.get(table, "agent_id")
    return [
        f"CREATE TRIGGER IF NOT EXISTS {table}_ver_ai AFTER INSERT ON {table} BEGIN {bump('new')} END",
        f"CREATE TRIGGER IF NOT EXISTS {table}_ver_ad AFTER DELETE ON {table} BEGIN {bump('old')} END",
        f"CREATE TRIGGER IF NOT EXISTS {table}_ver_au AFTER UPDATE OF embedding, embedding_model, embedding_dim, "
        f"{column + ', archive_id' if 'archive_id' in columns else column} ON {table} "
        f"BEGIN {bump('old')} {bump('new')} END",
    ]


def _sqlite_version_sql(table: str, columns: frozenset[str] = frozenset()) -> list[str]:
    """The version table, its triggers on `table`, and a fresh version for every collection of `table` (so no
    cache built before the triggers existed stays valid)."""
    return [
        f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (tbl TEXT NOT NULL, agent_id TEXT NOT NULL, "
        "version INTEGER NOT NULL, PRIMARY KEY (tbl, agent_id)) WITHOUT ROWID",
        *_sqlite_version_trigger_sql(table, columns),
        f"INSERT INTO {VERSION_TABLE}(tbl, agent_id, version) "
        f"SELECT DISTINCT '{table}', {collection_key(table, columns, 't')}, 1 FROM {table} t "
        "WHERE TRUE ON CONFLICT(tbl, agent_id) DO UPDATE SET version = version + 1",
    ]


def search_schema_sql(vendor: str, table: str, default_dims: tuple[int, ...] = (384,)) -> list[str]:
    if vendor == "postgresql":
        sql = [
            f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS search_tsv tsvector "
            f"GENERATED ALWAYS AS (to_tsvector('{TEXT_CONFIG}'::regconfig, text)) STORED",
            f"CREATE INDEX IF NOT EXISTS {table}_tsv_gin ON {table} USING gin (search_tsv)",
        ]
        sql += [vector_index_sql(table, dim) for dim in default_dims]
        return sql
    if vendor == "sqlite":
        fts = fts_table(table)
        return [
            f"CREATE VIRTUAL TABLE IF NOT EXISTS {fts} USING fts5(text, content='{table}', "
            f"content_rowid='rowid', tokenize='{FTS5_TOKENIZE}')",
            *_sqlite_trigger_sql(table),
            f"INSERT INTO {fts}({fts}) VALUES ('rebuild')",
            *_sqlite_version_sql(table),
        ]
    return []


def drop_search_schema_sql(vendor: str, table: str) -> list[str]:
    if vendor == "postgresql":
        return [f"ALTER TABLE {table} DROP COLUMN IF EXISTS search_tsv"]
    if vendor == "sqlite":
        fts = fts_table(table)
        return (
            [f"DROP TRIGGER IF EXISTS {fts}_{s}" for s in ("ai", "ad", "au")]
            + [f"DROP TRIGGER IF EXISTS {table}_ver_{s}" for s in ("ai", "ad", "au")]
            + [f"DROP TABLE IF EXISTS {fts}"]
        )
    return []


def vector_index_name(table: str, dim: int) -> str:
    return f"{table}_emb{dim}_hnsw"


def vector_index_sql(table: str, dim: int) -> str:
    return (
        f"CREATE INDEX IF NOT EXISTS {vector_index_name(table, dim)} ON {table} "
        f"USING hnsw ((embedding::vector({int(dim)})) vector_cosine_ops) WHERE embedding_dim = {int(dim)}"
    )


# PostgreSQL moves a row's long values out of line (TOAST) once the row passes ~2 kB, the largest first: a 384-dim
# vector (1.5 kB, pgvector's storage is `external`) beside a chunk's text and tsvector. An exact scan then fetches
# every row's vector from the TOAST table (an index look-up each: 23 ms of server CPU for 10,000 rows, against 10 ms
# inline; docs/benchmarks.md). With the page's own size as the target, a row keeps its values inline unless it
# would not fit a page. New rows only: `VACUUM FULL <table>` rewrites the older ones.
TOAST_TUPLE_TARGET = 8160


def inline_vectors_sql(vendor: str, table: str) -> list[str]:
    """Keep `table`'s vectors (and text) in the row (PostgreSQL; nothing to do on SQLite)."""
    if vendor != "postgresql":
        return []
    return [f"ALTER TABLE {table} SET (toast_tuple_target = {TOAST_TUPLE_TARGET})"]


def toasted_vectors_sql(vendor: str, table: str) -> list[str]:
    return [f"ALTER TABLE {table} RESET (toast_tuple_target)"] if vendor == "postgresql" else []


def apply(schema_editor: BaseDatabaseSchemaEditor, sql: list[str]) -> None:
    for statement in sql:
        schema_editor.execute(statement)


def ensure_vector_index(table: str, dim: int, connection: BaseDatabaseWrapper = default_connection) -> None:
    """Create the HNSW index for `dim` the first time a vector of that dimension is written (PostgreSQL only)."""
    if connection.vendor != "postgresql":
        return
    key = (connection.alias, table, dim)
    if key in _known_vector_indexes:
        return
    if not 1 <= dim <= 2000:
        raise ValueError(f"pgvector HNSW indexes hold at most 2,000 dimensions, got {dim}")
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_indexes WHERE indexname = %s", [vector_index_name(table, dim)])
        if cursor.fetchone() is None:
            if connection.in_atomic_block:
                connection.check_constraints()  # CREATE INDEX refuses to run with deferred FK checks pending
            # Blocks writes to the table while it builds: once per new dimension, over no rows of that dimension.
            cursor.execute(vector_index_sql(table, dim))
    _known_vector_indexes.add(key)


def ensure_search_schema(connection: BaseDatabaseWrapper = default_connection) -> None:
    """SQLite: recreate the FTS and version triggers a table rebuild dropped, resync the index and bump every
    agent's version (no-op when intact)."""
    if connection.vendor != "sqlite":
        return
    with connection.cursor() as cursor:
        tables = {row[0] for row in cursor.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger')")}
        for table in SEARCH_TABLES:
            fts = fts_table(table)
            if table not in tables or fts not in tables:
                continue
            if not all(f"{table}_ver_{s}" in tables for s in ("ai", "ad", "au")):
                columns = frozenset(row[1] for row in cursor.execute(f"PRAGMA table_info({table})").fetchall())
                for statement in _sqlite_version_sql(table, columns):
                    cursor.execute(statement)
            if not all(f"{fts}_{s}" in tables for s in ("ai", "ad", "au")):
                for statement in _sqlite_trigger_sql(table):
                    cursor.execute(statement)
                cursor.execute(f"INSERT INTO {fts}({fts}) VALUES ('rebuild')")
