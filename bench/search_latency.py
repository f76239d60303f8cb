"""Server-side search latency: passage_search p50/p95 per mode at a given number of passages per agent.

Passages are generated: sentences drawn from a Zipf-distributed synthetic vocabulary, with random unit vectors
recorded as the default local model's (384 dims), so no model runs at ingest. The query is embedded by the local
model inside each timed search, as in production. Other agents' passages (--other) share the table, so the
filters and indexes are exercised as on a shared server. With --recall (PostgreSQL), vector-mode results are
also compared with an exact scan (recall@10 of the HNSW search against exact search).

    nice python bench/search_latency.py --db postgres --passages 60000 --queries 200 [--recall]
"""

import argparse
import datetime as dt
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._django import test_database  # noqa: E402


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
    args = parser.parse_args()
    with test_database(args.db):
        run(args)


def generate(agent: Any, count: int, rng: random.Random, words: list[str], weights: list[float]) -> None:
    from django.db import transaction

    from memory.embeddings import resolve_model
    from memory.models import Passage

    model = resolve_model("")
    np_rng = np.random.default_rng(rng.randrange(2**32))
    base = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    for begin in range(0, count, 5000):
        n = min(5000, count - begin)
        vectors = np_rng.standard_normal((n, 384)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
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


def run(args: argparse.Namespace) -> None:
    from django.db import connection

    from accounts.models import Organization
    from agents.models import Agent
    from memory.ddl import ensure_vector_index
    from memory.embeddings import embed_query, resolve_model
    from memory.search import passage_search, scope_for, vector_ranking

    rng = random.Random(args.seed)
    words = vocabulary(rng, 5000)
    weights = [1.0 / (rank + 1) for rank in range(len(words))]
    org = Organization.objects.create(name="bench")
    agent = Agent.objects.create(organization=org, name="searched", model="x")
    ensure_vector_index("memory_passage", 384)
    started = time.perf_counter()
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
    queries = [" ".join(rng.choices(words[:2000], k=rng.randint(3, 7))) for _ in range(args.queries)]
    embed_query(resolve_model(""), "warm up the model")
    for mode in [m for m in args.modes.split(",") if m]:
        passage_search(agent=agent, query=queries[0], mode=mode)  # warm caches
        timings = []
        for query in queries:
            t0 = time.perf_counter()
            passage_search(agent=agent, query=query, mode=mode, top_k=10)
            timings.append(time.perf_counter() - t0)
        print(
            f"  mode={mode:<7} p50 {percentile(timings, 0.5):6.1f} ms  p95 {percentile(timings, 0.95):6.1f} ms  "
            f"(n={len(timings)}, includes embedding the query)"
        )
    filtered = []
    for query in queries[:50]:
        t0 = time.perf_counter()
        passage_search(agent=agent, query=query, tags=["t3", "t4"], top_k=10)
        filtered.append(time.perf_counter() - t0)
    print(f"  hybrid + tags filter p50 {percentile(filtered, 0.5):6.1f} ms  p95 {percentile(filtered, 0.95):6.1f} ms")

    if args.recall and connection.vendor == "postgresql":
        model = resolve_model("")
        scope = scope_for("memory_passage", organization_id=agent.organization_id, agent_id=agent.id)
        np_rng = np.random.default_rng(args.seed)
        hits, timings = 0, []
        for _ in range(min(100, args.queries)):
            vector = np_rng.standard_normal(384).astype(np.float32)
            vector /= np.linalg.norm(vector)
            t0 = time.perf_counter()
            approx = [pk for pk, _ in vector_ranking(scope, vector, model, 10)[:10]]
            timings.append(time.perf_counter() - t0)
            with connection.cursor() as cursor:
                cursor.execute("SET enable_indexscan = off")
                exact = [pk for pk, _ in vector_ranking(scope, vector, model, 10)[:10]]
                cursor.execute("SET enable_indexscan = on")
            hits += len(set(approx) & set(exact))
        print(
            f"  vector ranking only: p50 {percentile(timings, 0.5):.1f} ms p95 {percentile(timings, 0.95):.1f} ms, "
            f"recall@10 vs exact {hits / (10 * len(timings)):.3f}"
        )


if __name__ == "__main__":
    main()
