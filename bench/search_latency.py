"""Server-side search latency: passage_search p50/p95 per mode at a given number of passages per agent.

Passages are generated: sentences drawn from a Zipf-distributed synthetic vocabulary, with random unit vectors
recorded as the default local model's (384 dims), so no model runs at ingest. The query is embedded by the local
model inside each timed search, as in production. Other agents' passages (--other) share the table, so the
filters and indexes are exercised as on a shared server. With --recall (PostgreSQL), vector-mode results are
also compared with an exact scan (recall@10 of the HNSW search against exact search). With --http, the real app
is served by daphne (a subprocess on the same database) and `GET /v1/agents/{id}/archival-memory/search` (what
the Letta SDK's `agents.passages.search` calls) is timed with an HTTP client and a real API key.

    nice python bench/search_latency.py --db postgres --passages 60000 --queries 200 [--recall] [--http]
"""

import argparse
import datetime as dt
import http.client
import json
import os
import random
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._django import test_database  # noqa: E402
from lib.ids import public_id  # noqa: E402


def vocabulary(rng: random.Random, size: int) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(rng.choice(letters) for _ in range(rng.randint(3, 9))) for _ in range(size)]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--passages", type=int, default=600, help="passages of the searched agent")
    parser.add_argument("--other", type=int, default=0, help="passages of other agents in the same table")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--modes", default="hybrid,vector,text")
    parser.add_argument("--recall", action="store_true", help="PostgreSQL: recall@10 of HNSW vs exact search")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--sql-generate",
        action="store_true",
        help="PostgreSQL: generate the searched agent's rows inside the database and build the HNSW index after "
        "loading (for the 1,000,000-row run)",
    )
    parser.add_argument("--http", action="store_true", help="also time the search endpoint through HTTP (daphne)")
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the generated database and reuse it on the next run with the same --passages/--other (with "
        "DATABASE_URL pointing to a server that outlives the run, e.g. `python -m tests.backing`)",
    )
    args = parser.parse_args()
    with test_database(args.db, keep=args.keep):
        run(args)


CENTROIDS = np.random.default_rng(1234).uniform(-0.5, 0.5, (1000, 384)).astype(np.float32)
NOISE = 0.5


def clustered(np_rng: np.random.Generator, n: int) -> np.ndarray:
    """Vectors around 1,000 centroids, like the clumps real text embeddings form (uniform random vectors in 384
    dims are all nearly equidistant, which no embedding model produces)."""
    picks = np_rng.integers(0, len(CENTROIDS), n)
    vectors = CENTROIDS[picks] + np_rng.uniform(-0.5, 0.5, (n, 384)).astype(np.float32) * NOISE
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def generate(agent: Any, count: int, rng: random.Random, words: list[str], weights: list[float]) -> None:
    from django.db import transaction

    from memory.embeddings import resolve_model
    from memory.models import Passage

    model = resolve_model("")
    np_rng = np.random.default_rng(rng.randrange(2**32))
    base = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    for begin in range(0, count, 5000):
        n = min(5000, count - begin)
        vectors = clustered(np_rng, n)
        rows = [
            Passage(
                organization_id=agent.organization_id,
                agent_id=agent.id,
                text=" ".join(rng.choices(words, weights, k=rng.randint(8, 30))),
                tags=[f"t{rng.randrange(20)}"],
                created_at=base + dt.timedelta(minutes=begin + i),
                embedding=vectors[i],
                embedding_model=model,
                embedding_dim=384,
                embedding_hash=f"generated-{begin + i}",
            )
            for i in range(n)
        ]
        with transaction.atomic():
            Passage.objects.bulk_create(rows, batch_size=1000)


COMMON_SHARES = [0.6, 0.45, 0.3, 0.2, 0.12, 0.08]


def sql_generate(agent: Any, count: int, words: list[str], common: list[str]) -> None:
    """Rows made by PostgreSQL itself (random vectors, 8-20 random words from `words`, plus each of the `common`
    words with its probability in COMMON_SHARES); the HNSW index is dropped while loading and rebuilt once at the
    end, as a bulk import would."""
    from django.db import connection

    from memory.ddl import vector_index_name, vector_index_sql
    from memory.embeddings import resolve_model

    with connection.cursor() as cursor:
        cursor.execute(f"DROP INDEX IF EXISTS {vector_index_name('memory_passage', 384)}")
        cursor.execute("DROP TABLE IF EXISTS centroids")
        cursor.execute("CREATE TEMP TABLE centroids (cid int PRIMARY KEY, v real[])")
        cursor.executemany("INSERT INTO centroids VALUES (%s, %s)", [(i, c.tolist()) for i, c in enumerate(CENTROIDS)])
        for begin in range(0, count, 50_000):
            n = min(50_000, count - begin)
            cursor.execute(
                """
                INSERT INTO memory_passage (id, organization_id, agent_id, text, tags, metadata, created_at,
                    updated_at, embedding, embedding_model, embedding_dim, embedding_hash)
                SELECT gen_random_uuid(), %s, %s,
                    (SELECT string_agg((%s::text[])[1 + floor(random() * %s)::int], ' ')
                       FROM generate_series(1, 8 + (g %% 13)) WHERE g > 0)
                    || coalesce((SELECT ' ' || string_agg(c.word, ' ') FROM unnest(%s::text[], %s::float8[])
                       c(word, share) WHERE g > 0 AND random() < c.share), ''),
                    jsonb_build_array('t' || (g %% 20)), '{}'::jsonb,
                    timestamptz '2024-01-01' + g * interval '1 minute', now(),
                    (SELECT (SELECT array_agg(ce.v[i] + (random() - 0.5) * %s) FROM generate_series(1, 384) i)
                       FROM centroids ce WHERE ce.cid = g %% 1000)::vector,
                    %s, 384, 'generated-' || g
                FROM generate_series(%s, %s) AS g
                """,
                [
                    agent.organization_id,
                    agent.id,
                    words,
                    len(words),
                    common,
                    COMMON_SHARES,
                    NOISE,
                    resolve_model(""),
                    begin + 1,
                    begin + n,
                ],
            )
            print(f"  loaded {begin + n} rows", flush=True)
        cursor.execute("SET maintenance_work_mem = '4GB'")
        cursor.execute("SET max_parallel_maintenance_workers = 1")
        t0 = time.perf_counter()
        cursor.execute(vector_index_sql("memory_passage", 384))
        print(f"  HNSW index built in {time.perf_counter() - t0:.0f} s", flush=True)


def http_timings(agent: Any, queries: list[str]) -> None:
    """Serve the app with daphne on the benchmark's database and time the archival search endpoint over one
    kept-alive connection, as an SDK client would."""
    from bench.stack import live_server

    with live_server(agent.organization) as served:
        client = http.client.HTTPConnection(urllib.parse.urlsplit(served.url).netloc, timeout=30)

        def get(path: str, params: list[tuple[str, Any]]) -> Any:
            client.request("GET", f"{path}?{urllib.parse.urlencode(params)}", headers=served.headers)
            response = client.getresponse()
            body = response.read()
            if response.status != 200:
                raise RuntimeError(f"GET {path} answered {response.status}: {body[:300]!r}")
            return json.loads(body)

        try:
            path = f"/v1/agents/{public_id('agent', agent.id)}/archival-memory/search"
            get(path, [("query", "warm up the model")])
            # The first pass embeds each query in the server; later passes find its vector in the server's cache.
            for label, extra in (
                ("hybrid, including embedding the query", []),
                ("hybrid, query vector cached", []),
                ("hybrid + tags any-of filter, query vector cached", [("tags", "t3"), ("tags", "t4")]),
            ):
                timings = []
                for query in queries:
                    t0 = time.perf_counter()
                    found = get(path, [("query", query), ("top_k", 10), *extra])
                    timings.append(time.perf_counter() - t0)
                    if not found["results"]:
                        raise RuntimeError(f"no results through HTTP for {query!r}")
                print(
                    f"  HTTP GET archival-memory/search, {label}: p50 {percentile(timings, 0.5):6.1f} ms  "
                    f"p95 {percentile(timings, 0.95):6.1f} ms  (n={len(timings)}, load {os.getloadavg()[0]:.2f})",
                    flush=True,
                )
        finally:
            client.close()


def server_cpu() -> float:
    """CPU seconds used so far by the database server's live processes (PostgreSQL on this machine, from /proc):
    what the queries cost the server whatever else the shared machine runs."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return 0.0
    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity")
        pids = [row[0] for row in cursor.fetchall()]
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def run(args: argparse.Namespace) -> None:
    from django.db import connection

    from accounts.models import Organization
    from agents.models import Agent
    from memory.ddl import ensure_vector_index
    from memory.embeddings import embed_query, query_cache_clear, resolve_model
    from memory.models import Passage
    from memory.search import DEFAULT_FUSION, embedding_query, passage_search, scope_for, vector_ranking

    rng = random.Random(args.seed)
    words = vocabulary(rng, 5000)
    weights = [1.0 / (rank + 1) for rank in range(len(words))]
    started = time.perf_counter()
    agent = Agent.objects.filter(name="searched").first()
    if (
        args.keep
        and agent is not None
        and Passage.objects.filter(agent=agent).count() == args.passages
        and Passage.objects.exclude(agent=agent).count() == args.other
    ):
        print(f"db={args.db} passages: {args.passages} searched + {args.other} others, kept from an earlier run")
    elif agent is not None:
        raise SystemExit("the kept database holds other data: run once without --keep to drop it")
    else:
        org = Organization.objects.create(name="bench")
        agent = Agent.objects.create(organization=org, name="searched", model="x")
        ensure_vector_index("memory_passage", 384)
        if args.sql_generate and connection.vendor == "postgresql":
            sql_generate(agent, args.passages, words[:2000], words[2000 : 2000 + len(COMMON_SHARES)])
        else:
            generate(agent, args.passages, rng, words, weights)
        remaining, index = args.other, 0
        while remaining > 0:
            other = Agent.objects.create(organization=org, name=f"other-{index}", model="x")
            batch = min(remaining, max(args.passages, 10_000))
            generate(other, batch, rng, words, weights)
            remaining -= batch
            index += 1
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE memory_passage")
        print(
            f"db={args.db} passages: {args.passages} searched + {args.other} others, generated in "
            f"{time.perf_counter() - started:.0f} s"
        )
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    query_rng = random.Random(args.seed + 1)  # the same queries whether the rows were generated or kept
    queries = [" ".join(query_rng.choices(words[:2000], k=query_rng.randint(3, 7))) for _ in range(args.queries)]
    embed_query(resolve_model(""), "warm up the model")
    embed_timings = []
    for query in queries:
        query_cache_clear()
        t0 = time.perf_counter()
        embed_query(resolve_model(""), query)
        embed_timings.append(time.perf_counter() - t0)
    print(
        f"  embedding one query (local model): p50 {percentile(embed_timings, 0.5):6.1f} ms  "
        f"p95 {percentile(embed_timings, 0.95):6.1f} ms"
    )
    for mode in [m for m in args.modes.split(",") if m]:
        passage_search(agent=agent, query=queries[0], mode=mode)  # warm caches
        for cached in (False, True):
            if cached:  # the first pass left only its last query's vector in the cache
                scope = scope_for("memory_passage", organization_id=agent.organization_id, agent_id=agent.id)
                for query in queries:
                    embed_query(resolve_model(""), embedding_query(scope, query))  # the query as search embeds it
            timings, cpu = [], []
            server_started = server_cpu()
            for query in queries:
                if not cached:
                    query_cache_clear()
                t0, c0 = time.perf_counter(), time.process_time()
                passage_search(agent=agent, query=query, mode=mode, top_k=10)
                timings.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
            label = "query vector cached (database + ranking only)" if cached else "including embedding the query"
            if mode == "text" and cached:
                continue
            print(
                f"  mode={mode:<7} p50 {percentile(timings, 0.5):6.1f} ms  p95 {percentile(timings, 0.95):6.1f} ms  "
                f"(n={len(timings)}, {label}; CPU per query: this process p50 {percentile(cpu, 0.5):.1f} ms, "
                f"database server mean {(server_cpu() - server_started) * 1000 / len(queries):.1f} ms; "
                f"load {os.getloadavg()[0]:.1f})"
            )
    # Queries of only the most common words (in 8-60 % of the rows each): the text side must not read every match.
    pool = words[2000 : 2000 + len(COMMON_SHARES)] if args.sql_generate else words[: len(COMMON_SHARES)]
    common_queries = [" ".join(query_rng.sample(pool, query_rng.randint(2, 4))) for _ in range(args.queries)]
    for mode in [m for m in args.modes.split(",") if m and m != "vector"]:
        timings, cpu = [], []
        server_started = server_cpu()
        for query in common_queries:
            t0, c0 = time.perf_counter(), time.process_time()
            passage_search(agent=agent, query=query, mode=mode, top_k=10)
            timings.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        print(
            f"  mode={mode:<7} p50 {percentile(timings, 0.5):6.1f} ms  p95 {percentile(timings, 0.95):6.1f} ms  "
            f"(n={len(timings)}, queries of only common words; CPU per query: this process p50 "
            f"{percentile(cpu, 0.5):.1f} ms, database server mean "
            f"{(server_cpu() - server_started) * 1000 / len(common_queries):.1f} ms; load {os.getloadavg()[0]:.1f})",
            flush=True,
        )
    filtered = []
    for query in queries[:50]:
        t0 = time.perf_counter()
        passage_search(agent=agent, query=query, tags=["t3", "t4"], top_k=10)
        filtered.append(time.perf_counter() - t0)
    print(
        f"  hybrid + tags any-of filter, query vector cached: p50 {percentile(filtered, 0.5):6.1f} ms  "
        f"p95 {percentile(filtered, 0.95):6.1f} ms"
    )

    if args.http:
        http_timings(agent, queries)

    if args.recall and connection.vendor == "postgresql":
        model = resolve_model("")
        scope = scope_for("memory_passage", organization_id=agent.organization_id, agent_id=agent.id)
        np_rng = np.random.default_rng(args.seed)
        hits, timings = 0, []
        depth = DEFAULT_FUSION.depth  # what passage_search asks the index for (hnsw.ef_search = depth)
        for vector in clustered(np_rng, min(100, args.queries)):
            t0 = time.perf_counter()
            approx = [pk for pk, _ in vector_ranking(scope, vector, model, depth)[:10]]
            timings.append(time.perf_counter() - t0)
            with connection.cursor() as cursor:
                cursor.execute("SET enable_indexscan = off")
                exact = [pk for pk, _ in vector_ranking(scope, vector, model, depth)[:10]]
                cursor.execute("SET enable_indexscan = on")
            hits += len(set(approx) & set(exact))
        print(
            f"  vector ranking only (depth {depth}): p50 {percentile(timings, 0.5):.1f} ms "
            f"p95 {percentile(timings, 0.95):.1f} ms, "
            f"recall@10 vs exact {hits / (10 * len(timings)):.3f}"
        )


if __name__ == "__main__":
    main()
