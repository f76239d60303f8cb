"""Searching an agent's files: regular expressions over their text (grep) and hybrid search over their chunks
(memory.search, the engine archival passages use: full text and vectors of the folder's embedding model fused).
Only completed files of folders attached to the agent are seen; the agent is one the caller already holds."""

import fnmatch
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import regex
from django.conf import settings

from files.models import File, FileChunk
from files.selectors import agent_file_views
from files.windows import display_name, files_touch
from memory.embeddings import EmbeddingError
from memory.search import Fusion, Scope, SearchMode, db_uuid, ranked_ids, validate_query

MAX_PATTERN = 1000
MAX_LINE_CHARS = 2000  # a line is searched and shown up to this many characters
GREP_PAGE = 20
# Files are not conversations: no neighbour, episode, date or diversity boosts, plain relative score fusion.
FILE_FUSION = Fusion(
    context_prev=0, context_prev2=0, context_next=0, context_next2=0, episode_weight=0, date_weight=0,
    question_discount=0, time_weight=0, diversity=0,
)  # fmt: skip


@dataclass(frozen=True)
class GrepMatch:
    file_name: str
    line: int
    context: list[tuple[int, str]]


@dataclass(frozen=True)
class GrepResult:
    matches: list[GrepMatch]
    total: int
    files: int
    offset: int


def grep(
    *,
    agent_id: uuid.UUID,
    organization_id: uuid.UUID,
    pattern: str,
    include: str | None = None,
    context_lines: int = 1,
    offset: int = 0,
    page: int = GREP_PAGE,
) -> GrepResult:
    """Matching lines (with `context_lines` around them) across the agent's completed files whose name matches
    the glob `include`; `page` matches from `offset`. Raises ValueError for a bad pattern, and for one that takes
    longer than ENGRAM_GREP_TIMEOUT_MS to match (the `regex` package stops a match at its timeout; it also releases
    the GIL while matching, so a slow pattern does not stall the worker's other threads)."""
    if not isinstance(pattern, str) or not pattern or len(pattern) > MAX_PATTERN:
        raise ValueError(f"pattern must be a regular expression of 1 to {MAX_PATTERN} characters")
    try:
        compiled = regex.compile(pattern, flags=regex.VERSION0)  # VERSION0: Python's `re` syntax
    except regex.error as exc:
        raise ValueError(f"invalid regular expression: {exc}") from None
    budget = settings.ENGRAM_GREP_TIMEOUT_MS / 1000
    deadline = time.monotonic() + budget
    context_lines = max(0, min(int(context_lines), 10))
    views = list(
        agent_file_views(agent_id=agent_id, organization_id=organization_id)
        .filter(file__status=File.Status.COMPLETED)
        .order_by("folder__name", "file__file_name")
    )
    contents = dict(File.objects.filter(pk__in=[v.file_id for v in views]).values_list("id", "content"))
    matches: list[GrepMatch] = []
    touched: list[uuid.UUID] = []
    total = 0
    files = 0
    for view in views:
        name = display_name(view.folder, view.file)
        if include and not (fnmatch.fnmatch(name, include) or fnmatch.fnmatch(view.file.file_name, include)):
            continue
        lines = contents.get(view.file_id, "").split("\n")
        hit_in_file = False
        for index, line in enumerate(lines):
            left = deadline - time.monotonic()
            try:
                if left <= 0:
                    raise TimeoutError
                if not compiled.search(line[:MAX_LINE_CHARS], timeout=left, concurrent=True):
                    continue
            except TimeoutError:
                raise ValueError(
                    f"the regular expression took longer than {budget:g} s to match (it may backtrack "
                    "catastrophically, e.g. nested repeats like (a+)+): use a simpler pattern or narrow `include`"
                ) from None
            hit_in_file = True
            if offset <= total < offset + page:
                low, high = max(0, index - context_lines), min(len(lines), index + context_lines + 1)
                matches.append(
                    GrepMatch(name, index + 1, [(n + 1, lines[n][:MAX_LINE_CHARS]) for n in range(low, high)])
                )
            total += 1
        files += hit_in_file
        if hit_in_file:
            touched.append(view.id)
    files_touch(view_ids=touched)  # Letta's last_accessed_at: open, close and search tools count as access
    return GrepResult(matches=matches, total=total, files=files, offset=offset)


@dataclass(frozen=True)
class ChunkHit:
    chunk: FileChunk
    file_name: str
    score: float


def chunk_scope(*, organization_id: uuid.UUID, folder_ids: Iterable[uuid.UUID]) -> Scope:
    """The chunks of the given folders (of one embedding model), as memory.search ranks them."""
    scope = Scope(FileChunk._meta.db_table)
    scope.add("t.organization_id = %s", db_uuid(organization_id))
    ids = sorted(folder_ids)
    if len(ids) == 1:
        scope.add("t.folder_id = %s", db_uuid(ids[0]))
        scope.newest_first = "t.created_at"  # index (folder, created_at, id): words in most chunks walk it
    else:
        scope.add(f"t.folder_id IN ({', '.join(['%s'] * len(ids))})", *[db_uuid(i) for i in ids])
    scope.base = 2  # chunks exist only for completed files, and every file of an attached folder is the agent's
    scope.collections = [db_uuid(i) for i in ids]  # the folders' versions (memory.ddl) key SQLite's vector cache
    return scope


def semantic_search(
    *, agent_id: uuid.UUID, organization_id: uuid.UUID, query: str, limit: int = 5, mode: SearchMode = "hybrid"
) -> list[ChunkHit]:
    """Best-first chunks of the agent's completed files. Folders are searched per embedding model (each ranking
    with its own query vector) and merged by score. Falls back to full text when the model cannot embed."""
    validate_query(query)
    views = list(
        agent_file_views(agent_id=agent_id, organization_id=organization_id).filter(file__status=File.Status.COMPLETED)
    )
    names = {v.file_id: display_name(v.folder, v.file) for v in views}
    by_model: dict[str, set[uuid.UUID]] = defaultdict(set)
    for view in views:
        by_model[view.folder.embedding].add(view.folder_id)
    ranked: list[tuple[uuid.UUID, float]] = []
    for model, folder_ids in by_model.items():
        scope = chunk_scope(organization_id=organization_id, folder_ids=folder_ids)
        try:
            ranked += ranked_ids(
                scope=scope, query=query, mode=mode, embedding_model=model, limit=limit, fusion=FILE_FUSION
            )
        except EmbeddingError:
            ranked += ranked_ids(
                scope=scope, query=query, mode="text", embedding_model=model, limit=limit, fusion=FILE_FUSION
            )
    ranked.sort(key=lambda item: -item[1])
    ranked = ranked[:limit]
    rows = FileChunk.objects.defer("embedding").in_bulk([pk for pk, _ in ranked])
    hit_files = {row.file_id for row in rows.values()}
    files_touch(view_ids=[v.id for v in views if v.file_id in hit_files])
    return [
        ChunkHit(chunk=rows[pk], file_name=names.get(rows[pk].file_id, ""), score=score)
        for pk, score in ranked
        if pk in rows
    ]
