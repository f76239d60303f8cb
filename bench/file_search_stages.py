"""Where one `semantic_search_files` spends its time, stage by stage (run by `bench/file_ingest.py --parts stages`).

Each stage of `files.search.semantic_search` is called on its own, as the search calls it, once per query: wall
time, this process's CPU (the embedding model's threads included) and, on PostgreSQL, the CPU of the database
server process serving this connection (utime + stime from /proc, summed over all queries and divided, so the
10 ms clock tick averages out). With `--explain` (PostgreSQL) each statement of one search is shown with EXPLAIN
(ANALYZE, BUFFERS).

Stages: the agent's file views; the query as embedded (common words left out); the query's embedding, from the
query cache (as every query after the first in this corpus, whose query words are all common) and computed
(cache cleared first); text ranking; vector ranking; fusion; loading the hits; marking the files accessed; then
the whole search in hybrid mode.
"""

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

TICK = os.sysconf("SC_CLK_TCK")


def _server_pid() -> int | None:
    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return int(cursor.fetchone()[0])


def _server_cpu(pid: int | None) -> float:
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000


def _explain(label: str, run: Callable[[], Any]) -> None:
    """Runs `run` once capturing its statements, then shows each SELECT with EXPLAIN (ANALYZE, BUFFERS)."""
    from django.db import connection

    captured: list[tuple[str, Any]] = []

    def capture(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        captured.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(capture):
        run()
    for sql, params in captured:
        if not sql.lstrip().upper().startswith(("SELECT", "WITH")) or "set_config" in sql:
            continue
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql, params)
            plan = "\n    ".join(row[0] for row in cursor.fetchall())
        print(f"--- {label}: {' '.join(sql.split())[:160]}\n    {plan}")


def stages(agent: Any, folder: Any, queries: list[str], *, explain: bool = False) -> None:
    from django.db import connection

    from files.models import File, FileChunk
    from files.search import FILE_FUSION, chunk_scope, semantic_search
    from files.selectors import agent_file_views
    from files.windows import files_touch
    from memory.embeddings import embed_query, query_cache_clear, resolve_model
    from memory.search import embedding_query, fuse, text_ranking, vector_ranking

    org_id = agent.organization_id
    model = resolve_model(folder.embedding)
    scope = chunk_scope(organization_id=org_id, folder_ids=[folder.id])
    depth = max(FILE_FUSION.depth, 2 * 5)
    semantic_search(agent_id=agent.id, organization_id=org_id, query="warm up the model")  # caches, model loaded
    embedded = embedding_query(scope, queries[0])
    vector = embed_query(model, embedded)
    text = text_ranking(scope, queries[0], depth)
    by_vector = vector_ranking(scope, vector, model, depth)
    ranked = fuse(text, by_vector, FILE_FUSION)
    hit_ids = [pk for pk, _ in ranked[:5]]
    views = list(agent_file_views(agent_id=agent.id, organization_id=org_id).filter(file__status=File.Status.COMPLETED))

    def computed(query: str) -> Any:
        query_cache_clear()
        return embed_query(model, embedding_query(scope, query))

    steps: list[tuple[str, Callable[[str], Any]]] = [
        (
            "file views",
            lambda q: list(
                agent_file_views(agent_id=agent.id, organization_id=org_id).filter(file__status=File.Status.COMPLETED)
            ),
        ),
        ("query as embedded", lambda q: embedding_query(scope, q)),
        ("query embedding, cached", lambda q: embed_query(model, embedding_query(scope, q))),
        ("query embedding, computed", computed),
        ("text ranking", lambda q: text_ranking(scope, q, depth)),
        ("vector ranking", lambda q: vector_ranking(scope, vector, model, depth)),
        ("fusion", lambda q: fuse(text, by_vector, FILE_FUSION)),
        ("load hits", lambda q: FileChunk.objects.defer("embedding").in_bulk(hit_ids)),
        ("files touched", lambda q: files_touch(view_ids=[v.id for v in views])),
        (
            "whole search (hybrid)",
            lambda q: semantic_search(agent_id=agent.id, organization_id=org_id, query=q, limit=5, mode="hybrid"),
        ),
    ]
    pid = _server_pid()
    load = os.getloadavg()[0]
    print(f"stages of semantic_search_files ({connection.vendor}, {len(queries)} queries, load average {load:.1f})")
    for label, step in steps:
        walls: list[float] = []
        cpus: list[float] = []
        server = _server_cpu(pid)
        for query in queries:
            start, cpu = time.perf_counter(), time.process_time()
            step(query)
            walls.append(time.perf_counter() - start)
            cpus.append(time.process_time() - cpu)
        server = (_server_cpu(pid) - server) / len(queries) * 1000
        server_part = f"; server CPU {server:.1f} ms per call" if pid is not None else ""
        print(
            f"  {label}: wall p50 {_percentile(walls, 0.5):.2f} / p95 {_percentile(walls, 0.95):.2f} ms; "
            f"this process's CPU p50 {_percentile(cpus, 0.5):.2f} ms{server_part}"
        )
    embed_query(model, embedded)  # the cache as the searches left it
    if explain and pid is not None:
        query = queries[0]
        _explain("text ranking", lambda: text_ranking(scope, query, depth))
        _explain("vector ranking", lambda: vector_ranking(scope, vector, model, depth))
        _explain("load hits", lambda: FileChunk.objects.defer("embedding").in_bulk(hit_ids))
        _explain(
            "whole search",
            lambda: semantic_search(agent_id=agent.id, organization_id=org_id, query=query, limit=5, mode="hybrid"),
        )


def recall(folder: Any, samples: int = 50, seed: int = 11) -> None:
    """PostgreSQL: recall@10 and @50 (the fusion's depth) of the vector ranking as searches run it against an exact
    scan of the folder (index scans off), for query vectors drawn at random and for ones near a chunk (a chunk's
    vector plus noise, as a query near its answer), with the ranking's time."""
    import numpy as np
    from django.db import connection

    from files.models import FileChunk
    from files.search import chunk_scope
    from memory.embeddings import resolve_model
    from memory.search import vector_from_db, vector_ranking

    if connection.vendor != "postgresql":
        return
    model = resolve_model(folder.embedding)
    scope = chunk_scope(organization_id=folder.organization_id, folder_ids=[folder.id])
    rng = np.random.default_rng(seed)
    picked = list(FileChunk.objects.filter(folder=folder).order_by("?").values_list("embedding", flat=True)[:samples])
    near = [vector_from_db(v) for v in picked]
    dim = next(len(v) for v in near if v is not None)  # the folder's model's
    kinds = {
        "random": [rng.standard_normal(dim) for _ in range(samples)],
        "near a chunk": [v + 0.5 * rng.standard_normal(dim) / np.sqrt(dim) for v in near if v is not None],
    }
    for kind, vectors in kinds.items():
        found10 = found50 = 0
        timings: list[float] = []
        for raw in vectors:
            vector = (raw / np.linalg.norm(raw)).astype(np.float32)
            start = time.perf_counter()
            approx = [pk for pk, _ in vector_ranking(scope, vector, model, 50)]
            timings.append(time.perf_counter() - start)
            with connection.cursor() as cursor:
                cursor.execute("SET enable_indexscan = off")
                exact = [pk for pk, _ in vector_ranking(scope, vector, model, 50)]
                cursor.execute("SET enable_indexscan = on")
            found10 += len(set(approx[:10]) & set(exact[:10]))
            found50 += len(set(approx) & set(exact))
        print(
            f"  vector ranking, {kind} queries: p50 {_percentile(timings, 0.5):.2f} ms, p95 "
            f"{_percentile(timings, 0.95):.2f} ms; recall@10 vs exact {found10 / (10 * len(vectors)):.3f}, "
            f"recall@50 {found50 / (50 * len(vectors)):.3f}"
        )
