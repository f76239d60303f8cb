"""Time to searchable: single passage inserts through the API, then the seconds until vector search sees every one.

The real app is served by daphne (production settings) on a throwaway database; `--passages` passages are inserted
one request at a time (`POST /v1/agents/{id}/archival-memory`, what the Letta SDK's `agents.passages.create` sends)
over one kept-alive connection with a real API key. Right after every `--check-every`th insert returns, text search
must find that passage by the unique word it holds (no waiting: text is indexed in the insert's transaction). After
the last insert the agent's embedded rows are counted every 0.2 s until all are embedded; then vector search
(`passage_search(mode="vector")`, the passage's own text as the query) is checked to find a sample of them.

Profiles: `embedded` (no Redis: rows are embedded by the server process itself) and `celery` (REDIS_URL set: the
server queues embedding tasks and a Celery worker on the `embeddings` queue embeds them).

    nice python bench/searchable.py --db postgres --profile embedded --passages 5000
    nice python bench/searchable.py --db sqlite --profile celery --passages 5000
"""

import argparse
import http.client
import json
import os
import random
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._django import test_database  # noqa: E402
from bench.stack import live_server  # noqa: E402
from lib.ids import public_id  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000


def loads() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def passage_texts(args: argparse.Namespace, rng: random.Random) -> list[str]:
    if args.text == "random":
        letters = "abcdefghijklmnopqrstuvwxyz"
        words = ["".join(rng.choice(letters) for _ in range(rng.randint(3, 9))) for _ in range(3000)]
        return [" ".join(rng.choices(words, k=rng.randint(8, 30))) for _ in range(args.passages)]
    from bench.locomo_retrieval import DEFAULT_DATA, load

    turns = [text for conv in load(args.data or DEFAULT_DATA) for _dia, _n, _when, text in conv["turns"]]
    return [turns[i % len(turns)] for i in range(args.passages)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--profile", choices=["embedded", "celery"], default="embedded")
    parser.add_argument("--passages", type=int, default=5000)
    parser.add_argument("--check-every", type=int, default=50, help="check text search after every Nth insert")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for the embeddings")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument(
        "--text",
        choices=["locomo", "random"],
        default="locomo",
        help="passage texts: LoCoMo's dialogue turns in order (real conversation text, ~30 tokens each), or random "
        "letter strings (8-30 made-up words: ~3 wordpieces a word, so about twice the tokens to embed)",
    )
    parser.add_argument("--data", type=Path, default=None, help="LoCoMo's locomo10.json (bench/locomo_retrieval.py's)")
    args = parser.parse_args()
    with test_database(args.db):
        run(args)


def run(args: argparse.Namespace) -> None:
    from accounts.models import Organization
    from agents.models import Agent
    from tests.backing import ensure_redis

    org = Organization.objects.create(name="bench")
    agent = Agent.objects.create(organization=org, name="searchable", model="x")
    env = {"HF_HUB_OFFLINE": "1", "REDIS_URL": ensure_redis() if args.profile == "celery" else ""}
    solo = ["--pool=solo", "-l", "warning", "--without-gossip", "--without-mingle", "--without-heartbeat"]
    workers = [["-Q", "embeddings", *solo]] if args.profile == "celery" else []
    with live_server(org, env, workers=workers) as served:
        measure(args, agent, served.url, {**served.headers, "Content-Type": "application/json"})


def measure(args: argparse.Namespace, agent: Any, url: str, headers: dict[str, str]) -> None:
    from memory.models import Passage
    from memory.search import passage_search

    client = http.client.HTTPConnection(urllib.parse.urlsplit(url).netloc, timeout=60)

    def request(method: str, path: str, body: Any = None) -> Any:
        client.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
        response = client.getresponse()
        data = response.read()
        if response.status != 200:
            raise RuntimeError(f"{method} {path} answered {response.status}: {data[:300]!r}")
        return json.loads(data)

    rng = random.Random(args.seed)
    texts = [f"{text} mark{i:05d}q" for i, text in enumerate(passage_texts(args, rng))]
    try:
        path = f"/v1/agents/{public_id('agent', agent.id)}/archival-memory"
        request("POST", path, {"text": "warm up the model"})
        Passage.objects.filter(agent=agent).delete()
        print(
            f"db={args.db} profile={args.profile} passages={args.passages} text={args.text}  load average {loads()}",
            flush=True,
        )
        inserts, text_checks, text_misses = [], [], 0
        started = time.perf_counter()
        for i, text in enumerate(texts):
            t0 = time.perf_counter()
            request("POST", path, {"text": text})
            inserts.append(time.perf_counter() - t0)
            if i % args.check_every == 0:
                t0 = time.perf_counter()
                hits = passage_search(agent=agent, query=f"mark{i:05d}q", mode="text", top_k=1)
                text_checks.append(time.perf_counter() - t0)
                text_misses += not hits or hits[0].passage.text != text
        inserted = time.perf_counter()
        print(
            f"  {args.passages} inserts in {inserted - started:.1f} s: p50 {percentile(inserts, 0.5):.1f} ms  "
            f"p95 {percentile(inserts, 0.95):.1f} ms per request  (load average {loads()})",
            flush=True,
        )
        print(
            f"  text search right after the insert returned: {len(text_checks) - text_misses}/{len(text_checks)} "
            f"found ({percentile(text_checks, 0.5):.1f} ms p50)",
            flush=True,
        )
        embedded = 0
        while time.perf_counter() - inserted < args.timeout:
            embedded = Passage.objects.filter(agent=agent, embedding__isnull=False).count()
            if embedded >= args.passages:
                break
            time.sleep(0.2)
        done = time.perf_counter()
        sample = rng.sample(range(args.passages), min(20, args.passages))
        found = 0
        for i in sample:
            hits = passage_search(agent=agent, query=texts[i], mode="vector", top_k=10)
            found += any(hit.passage.text == texts[i] for hit in hits)
        print(
            f"  vector search sees {embedded}/{args.passages}: {done - inserted:.1f} s after the last insert, "
            f"{done - started:.1f} s after the first; a sample by its own text: {found}/{len(sample)} found  "
            f"(load average {loads()})",
            flush=True,
        )
        if embedded < args.passages or found < len(sample) or text_misses:
            raise SystemExit("not every passage became searchable")
    finally:
        client.close()


if __name__ == "__main__":
    main()
