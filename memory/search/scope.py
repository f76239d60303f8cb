# ruff: noqa: S608 - SQL here interpolates only table names from code and validated integers; values are bound.
"""What a search may see: the agent (or organization) scope, tag filters, and the search-wide limits."""

import datetime as dt
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

from django.db import connection

logger = logging.getLogger(__name__)
V = TypeVar("V")

SearchMode = Literal["hybrid", "vector", "text"]
TagMatchMode = Literal["any", "all"]
MODES = ("hybrid", "vector", "text")
MAX_TOP_K = 200
MAX_OFFSET = 10_000
MAX_FILTER_TAGS = 100
TEXT_CANDIDATES = 500  # BM25 is computed over at most this many full-text matches (best ts_rank or FTS5 bm25() first)
# The most full-text matches a search reads and ranks (bounded work for a word in many of a big agent's rows): an
# agent with fewer matches gets exactly the best TEXT_CANDIDATES of all of them.
TEXT_MATCHES = 2000


@dataclass
class Scope:
    """SQL conditions on the alias `t` with their parameters: the rows a search may return."""

    table: str
    where: list[str] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)
    base: int = 0  # the leading conditions that pick the collection (organization + agent), one parameter each
    # The ids the rows are versioned by (memory.ddl.collection_key: the agent, and any shared archives searched with
    # it); SQLite caches a scope's vectors only when it has some.
    collections: list[Any] = field(default_factory=list)
    # A column the rows of one collection can be read by, newest first, through an index led by the collection
    # (one agent's rows: created_at); empty when the scope spans several collections.
    newest_first: str = ""

    def add(self, condition: str, *params: Any) -> "Scope":
        self.where.append(condition)
        self.params.extend(params)
        return self

    def sql(self) -> str:
        return " AND ".join(self.where) or "TRUE"

    def base_part(self) -> tuple[list[str], list[Any]]:
        """The conditions that pick the collection, and their parameters."""
        where = self.where[: self.base]
        return where, self.params[: sum(condition.count("%s") for condition in where)]


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
    scope.collections = [db_uuid(agent_id)]
    scope.newest_first = "t.created_at"
    return add_dates(scope, start, end)


def scope_for_collections(
    table: str,
    *,
    organization_id: uuid.UUID,
    agent_ids: list[uuid.UUID] | None = None,
    archive_ids: list[uuid.UUID] | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
) -> Scope:
    """Rows of the organization that belong to any of the agents or (in a table with `archive_id`) any of the
    shared archives; with neither given (None), every row of the organization. An agent with no archives is
    exactly `scope_for`."""
    if agent_ids is not None and len(agent_ids) == 1 and not archive_ids:
        return scope_for(table, organization_id=organization_id, agent_id=agent_ids[0], start=start, end=end)
    scope = Scope(table)
    scope.add("t.organization_id = %s", db_uuid(organization_id))
    if agent_ids is None and archive_ids is None:
        scope.base = 1
        return add_dates(scope, start, end)
    keys = [db_uuid(pk) for pk in agent_ids or []] + [db_uuid(pk) for pk in archive_ids or []]
    parts = []
    if agent_ids:
        parts.append("t.agent_id IN (" + ", ".join(["%s"] * len(agent_ids)) + ")")
    if archive_ids:
        parts.append("t.archive_id IN (" + ", ".join(["%s"] * len(archive_ids)) + ")")
    scope.add("(" + (" OR ".join(parts) or "FALSE") + ")", *keys)
    scope.base = 2
    scope.collections = keys
    return add_dates(scope, start, end)


def add_dates(scope: Scope, start: dt.datetime | None, end: dt.datetime | None) -> Scope:
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
    where, params = scope.base_part()
    return (connection.alias, scope.table, *where, *map(str, params)), " AND ".join(where) or "TRUE", params


def _collection_size(scope: Scope) -> int:
    """Rows of the agent (the first `scope.base` conditions), for BM25's IDF; cached for a minute."""
    key, where, params = _collection(scope)
    cached = _size_cache.get(key)
    if cached is not None:
        return cached
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {scope.table} t WHERE {where}", params)
        return _size_cache.put(key, int(cursor.fetchone()[0]))


_size_cache: _Expiring[int] = _Expiring(60.0)
