"""LoCoMo retrieval benchmark for archival search.

One agent per conversation, one passage per turn ('{speaker} said, "{text}"' plus ' and shared {caption}' when
the turn shared an image), tagged with its turn id and session, created_at = the session's date (+ i seconds for
the session's i-th turn in-process unless --dates session, the date alone through the API). Every question
of categories 1-4 is one search (top 50), verbatim. Scores turn-level Recall@5, Recall@10, NDCG@10 and session
hit@5, per mode and per category.

    python bench/locomo_retrieval.py [--data ../shared/data/locomo/locomo10.json] [--db postgres|sqlite] [--tune]
        [--dates turn|session] [--through-api | --recall] [--limit-conversations N] [--embedding HANDLE]

--embedding: the agents' embedding model (default: the server default, ENGRAM_DEFAULT_EMBEDDING), e.g.
`local/wordllama-l2-256`; in-process and --through-api.

--through-api runs the same protocol as a client of a live server (daphne) would, with the Letta SDK: one
`agents.passages.create` per turn dated at its session's date (all a client knows), one `agents.passages.search`
per question, and also prints the search latency through HTTP. --recall imports each conversation as an agent's
messages (an agent file, each turn dated at its session's date) and searches them with `messages.search`, the
recall search of the `conversation_search` tool.

The data set (CC BY-NC 4.0) is read from its path and never copied into the repository.
"""

import argparse
import datetime as dt
import json
import math
import os
import re
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._django import REPO, test_database  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "data" / "locomo" / "locomo10.json"
CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop"}
TOP = 50
_EVIDENCE = re.compile(r"D:?(\d+):0*(\d+)")


def normalise_evidence(items: list[str]) -> list[str]:
    ids: list[str] = []
    for item in items:
        for session, turn in _EVIDENCE.findall(item):
            ids.append(f"D{int(session)}:{int(turn)}")
    return list(dict.fromkeys(ids))


def session_date(text: str) -> dt.datetime:
    return dt.datetime.strptime(text.strip(), "%I:%M %p on %d %B, %Y").replace(tzinfo=dt.UTC)


def load(path: Path, dates: str = "turn") -> list[dict[str, Any]]:
    """Conversations as {agent name, turns: [(dia_id, session, created_at, text)], questions: [...]}. `dates`:
    "turn" dates a session's i-th turn at the session's date + i seconds, "session" dates every turn at the
    session's date (all a client knows)."""
    out = []
    for sample in json.loads(path.read_text()):
        conv = sample["conversation"]
        turns = []
        speakers = []
        for key, value in conv.items():
            match = re.fullmatch(r"session_(\d+)", key)
            if not match or not isinstance(value, list):
                continue
            n = int(match.group(1))
            when = session_date(conv[f"session_{n}_date_time"])
            for i, turn in enumerate(value):
                text = f'{turn["speaker"]} said, "{turn["text"]}"'
                if turn.get("blip_caption"):
                    text += f" and shared {turn['blip_caption']}"
                offset = dt.timedelta(seconds=i if dates == "turn" else 0)
                turns.append((turn["dia_id"], n, when + offset, text))
                speakers.append(turn["speaker"])
        known = {dia for dia, *_ in turns}
        session_of = {dia: n for dia, n, *_ in turns}
        questions = []
        for qa in sample["qa"]:
            if qa.get("category") not in CATEGORIES:
                continue
            evidence = [e for e in normalise_evidence(qa.get("evidence", [])) if e in known]
            if evidence:
                questions.append(
                    {
                        "question": qa["question"],
                        "category": qa["category"],
                        "evidence": evidence,
                        "sessions": {session_of[e] for e in evidence},
                    }
                )
        out.append(
            {
                "name": sample["sample_id"],
                "turns": turns,
                "questions": questions,
                "speakers": [conv["speaker_a"], conv["speaker_b"]],
                "turn_speakers": speakers,
            }
        )
    return out


def score(ranked: list[str], question: dict[str, Any], session_of: dict[str, int]) -> dict[str, float]:
    relevant = set(question["evidence"])
    dcg = sum(1.0 / math.log2(i + 2) for i, dia in enumerate(ranked[:10]) if dia in relevant)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(len(relevant), 10)))
    return {
        "R@5": len(relevant & set(ranked[:5])) / len(relevant),
        "R@10": len(relevant & set(ranked[:10])) / len(relevant),
        "NDCG@10": dcg / ideal,
        "S@5": float(any(session_of[d] in question["sessions"] for d in ranked[:5])),
    }


METRICS = ("R@5", "R@10", "NDCG@10", "S@5")
Row = tuple[int, dict[str, float]]
Search = Callable[[dict[str, Any], str], Any]  # (conversation, question) → the answer
Rank = Callable[[Any], list[str]]  # the answer → the turn ids it found, in order


def ask_all(data: list[dict[str, Any]], search: Search, rank: Rank) -> tuple[list[Row], str]:
    """Every question of every conversation, one timed `search(conversation, question)` each; `rank(answer)` is the
    turn ids it found, in order. Returns the scored rows and the searches' latency ("p50 … ms p95 … ms")."""
    rows = []
    latencies = []
    for conv in data:
        session_of = {dia: n for dia, n, *_ in conv["turns"]}
        for q in conv["questions"]:
            t0 = time.perf_counter()
            found = search(conv, q["question"])
            latencies.append(time.perf_counter() - t0)
            rows.append((q["category"], score(rank(found), q, session_of)))
    latencies.sort()
    p50 = latencies[len(latencies) // 2] * 1000
    p95 = latencies[int(len(latencies) * 0.95)] * 1000
    return rows, f"p50 {p50:.1f} ms p95 {p95:.1f} ms"


def report(title: str, rows: list[Row]) -> dict[str, float]:
    by_cat: dict[Any, list[dict[str, float]]] = defaultdict(list)
    for category, metrics in rows:
        by_cat[category].append(metrics)
        by_cat["all"].append(metrics)
    print(f"\n{title}")
    print(f"  {'category':<16}{'n':>6}" + "".join(f"{m:>9}" for m in METRICS))
    overall: dict[str, float] = {}
    for key in [*sorted(k for k in by_cat if k != "all"), "all"]:
        items = by_cat[key]
        means = {m: sum(x[m] for x in items) / len(items) for m in METRICS}
        label = "all" if key == "all" else f"{key} {CATEGORIES[key]}"
        print(f"  {label:<16}{len(items):>6}" + "".join(f"{means[m]:>9.3f}" for m in METRICS))
        if key == "all":
            overall = means
    return overall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--db", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--modes", default="hybrid,vector,text")
    parser.add_argument("--tune", action="store_true", help="also score a grid of fusion settings")
    parser.add_argument("--limit-conversations", type=int, default=0)
    parser.add_argument(
        "--dates",
        choices=["turn", "session"],
        default="turn",
        help="in-process: a turn's created_at is its session's date + i seconds (turn) or the date alone (session)",
    )
    parser.add_argument(
        "--through-api",
        action="store_true",
        help="as a client: a live server, the Letta SDK, one passages.create per turn dated at its session's date",
    )
    parser.add_argument(
        "--recall",
        action="store_true",
        help="as a client: the turns imported as an agent's messages (an agent file), searched by messages.search",
    )
    parser.add_argument(
        "--embedding", default="", help="the agents' embedding model handle (default: the server default)"
    )
    args = parser.parse_args()
    if args.embedding and args.recall:
        parser.error("--embedding applies in-process and with --through-api, not to --recall's imported agents")
    data = load(args.data, "session" if args.through_api or args.recall else args.dates)
    if args.limit_conversations:
        data = data[: args.limit_conversations]
    how = f"in-process, {args.dates} dates"
    if args.through_api or args.recall:
        how = "through the API" if args.through_api else "recall memory through the API"
    print(
        f"LoCoMo: {len(data)} conversations, {sum(len(c['turns']) for c in data)} turns, "
        f"{sum(len(c['questions']) for c in data)} questions (categories 1-4), db={args.db}, {how}, "
        f"embedding {args.embedding or 'the server default'}, load average {_load()}"
    )
    started = time.perf_counter()
    with test_database(args.db):
        if args.through_api or args.recall:
            from bench.locomo_api import run_recall, run_through_api

            (run_through_api if args.through_api else run_recall)(data, args)
        else:
            run(data, args)
    print(f"\ndone in {time.perf_counter() - started:.0f} s, load average {_load()} (1, 5, 15 min)")


def run(data: list[dict[str, Any]], args: argparse.Namespace) -> None:
    from django.db import transaction

    from accounts.models import Organization
    from agents.models import Agent
    from memory.embeddings import resolve_model
    from memory.models import Passage
    from memory.search import (
        DEFAULT_FUSION,
        passage_search,
    )
    from memory.services.passages import PassageInput, passage_insert_many

    org = Organization.objects.create(name="locomo")
    agents = {}
    started = time.perf_counter()
    total = 0
    for conv in data:
        agent = Agent.objects.create(
            organization=org, name=conv["name"], model="openai/gpt-4o-mini", embedding=resolve_model(args.embedding)
        )
        agents[conv["name"]] = agent
        items = [
            PassageInput(text=text, tags=[dia, f"session_{n}"], created_at=when) for dia, n, when, text in conv["turns"]
        ]
        with transaction.atomic():
            passage_insert_many(agent=agent, items=items)
        total += len(items)
    elapsed = time.perf_counter() - started
    embedded = Passage.objects.exclude(embedding_hash="").count()
    print(
        f"ingest: {total} passages inserted and embedded ({embedded} embedded) in {elapsed:.1f} s = "
        f"{total / elapsed:.0f} passages/s (embedding model: {resolve_model(args.embedding)}, load average {_load()})"
    )

    modes = [m for m in args.modes.split(",") if m]
    for mode in modes:
        rows, latency = ask_all(
            data,
            lambda conv, question, mode=mode: passage_search(
                agent=agents[conv["name"]], query=question, mode=mode, top_k=TOP
            ),
            lambda hits: [next(t for t in h.passage.tags if t.startswith("D")) for h in hits],
        )
        report(f"mode={mode} (fusion {DEFAULT_FUSION}) {latency} per search", rows)

    if args.tune:
        tune(data, agents, resolve_model(args.embedding))


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def tune(data: list[dict[str, Any]], agents: dict[str, Any], model: str) -> None:
    """Score fusion settings on cached rankings and neighbours (the same primitives passage_search uses)."""
    from memory.embeddings import embed_texts
    from memory.models import Passage
    from memory.search import (
        Fusion,
        embedding_query,
        fuse,
        neighbours,
        rerank,
        scope_for,
        text_ranking,
        vector_ranking,
    )

    depth = 100
    cached = []
    for conv in data:
        agent = agents[conv["name"]]
        dia_of = {pk: tags[0] for pk, tags in Passage.objects.filter(agent=agent).values_list("id", "tags")}
        session_of = {dia: n for dia, n, *_ in conv["turns"]}
        scope = scope_for("memory_passage", organization_id=agent.organization_id, agent_id=agent.id)
        vectors = embed_texts(model, [embedding_query(scope, q["question"]) for q in conv["questions"]])
        for q, vector in zip(conv["questions"], vectors, strict=True):
            text = text_ranking(scope, q["question"], depth)
            vec = vector_ranking(scope, vector, model, depth)
            around = neighbours(scope, list({pk for pk, _ in text} | {pk for pk, _ in vec}))
            cached.append((q, session_of, dia_of, text, vec, around))
    base = Fusion()
    grid = [Fusion(method="rrf", k=k, vector_weight=w, depth=50) for k in (10.0, 60.0) for w in (0.5, 1.0)]
    grid += [
        Fusion(vector_weight=w, depth=d, episode_weight=0.0, date_weight=0.0, context_prev=0.0, context_prev2=0.0,
               context_next=0.0, context_next2=0.0)
        for w in (0.4, 0.6, 1.0) for d in (50, 100)
    ]  # fmt: skip
    grid += [
        Fusion(vector_weight=w, episode_weight=e, episode_top=top, date_weight=dw)
        for w in (0.5, 0.6, 0.8) for e in (0.0, 0.2, 0.3, 0.4) for top in (1, 2, 3) for dw in (0.0, 0.5, 0.8)
    ]  # fmt: skip
    grid += [
        Fusion(context_prev=p, context_prev2=p2, context_next=n, context_next2=n2)
        for p in (0.2, 0.3) for p2 in (0.1, 0.2) for n in (0.1, 0.15) for n2 in (0.0, 0.05, 0.1)
    ]  # fmt: skip
    grid += [
        Fusion(question_discount=d, question_reply=r, time_weight=t)
        for d in (0.0, 0.2, 0.3, 0.4) for r in (0.0, 0.2, 0.3, 0.4) for t in (0.0, 0.3, 0.5)
    ]  # fmt: skip
    results = []
    for fusion in [base, *grid]:
        rows = []
        for q, session_of, dia_of, text, vec, around in cached:
            fused = fuse(text[: fusion.depth], vec[: fusion.depth], fusion)
            if fusion.uses_rows and fused:
                fused = rerank(fused, around, fusion, fusion.depth, q["question"])
            rows.append((q["category"], score([dia_of[pk] for pk, _ in fused[:TOP]], q, session_of)))
        means = {m: sum(r[m] for _, r in rows) / len(rows) for m in METRICS}
        results.append((means["NDCG@10"] + means["R@10"], fusion, means))
    print("\nfusion grid, the defaults first, then the best 15:")
    for _, fusion, means in results[:1] + sorted(results, key=lambda r: -r[0])[:15]:
        print(f"  {fusion}\n   " + "".join(f" {m} {means[m]:.3f}" for m in METRICS))


if __name__ == "__main__":
    main()
