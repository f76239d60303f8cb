"""LoCoMo as a client of a live server runs it (bench/locomo_retrieval.py --through-api and --recall).

Archival memory: one agent per conversation created with the Letta SDK, one `agents.passages.create` per turn in
conversation order (the turn's text, tags [turn id, session], created_at = the session's date: all a client knows),
then one `agents.passages.search` per question (top_k 50), timed through HTTP.

Recall memory: each conversation as an agent file whose messages are the turns (the first speaker's as user
messages, the other's as assistant messages, each dated at its session's date), imported with
`agents.import_file`, embedded by the server, then one `messages.search` per question (the recall search of the
`conversation_search` tool; limit 50)."""

import json
import time
from typing import Any

from bench.locomo_retrieval import TOP, Rank, Search, ask_all, report
from lib.ids import local_id


def _client(served: Any) -> Any:
    from letta_client import Letta

    return Letta(base_url=served.url, api_key=served.api_key, timeout=120)


def _ask_all(data: list[dict[str, Any]], title: str, search: Search, rank: Rank) -> None:
    rows, latency = ask_all(data, search, rank)
    report(f"{title}: {latency} per search through HTTP (n={len(rows)})", rows)


def wait_embedded(waiting: Any, what: str) -> None:
    """Until no row of the queryset `waiting` is left without its embedding (the server embeds in the background,
    so a search begun before would find some rows by text only)."""
    deadline = time.monotonic() + 3600
    while waiting.exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{waiting.count()} {what} still not embedded after an hour")
        time.sleep(1)


def run_through_api(data: list[dict[str, Any]], args: Any) -> None:
    from accounts.models import Organization
    from bench.stack import live_server
    from memory.embeddings import resolve_model
    from memory.models import Passage

    org = Organization.objects.create(name="locomo")
    with live_server(org) as served:
        client = _client(served)
        agents: dict[str, str] = {}
        started = time.perf_counter()
        total = 0
        for conv in data:
            agent = client.agents.create(
                name=conv["name"], model="openai/gpt-4o-mini", embedding=resolve_model(args.embedding)
            )
            agents[conv["name"]] = agent.id
            for dia, n, when, text in conv["turns"]:
                client.agents.passages.create(agent.id, text=text, tags=[dia, f"session_{n}"], created_at=when)
                total += 1
        elapsed = time.perf_counter() - started
        embedded = Passage.objects.exclude(embedding_hash="").count()
        wait_embedded(Passage.objects.filter(organization=org, embedding_hash=""), "passages")
        print(
            f"ingest: {total} passages created one by one through the API ({embedded} embedded) in {elapsed:.1f} s "
            f"= {total / elapsed:.0f} passages/s (embedding model: {resolve_model(args.embedding)}); all embedded "
            f"{time.perf_counter() - started - elapsed:.1f} s later, before the first search",
            flush=True,
        )
        _ask_all(
            data,
            "through the API, agents.passages.search (hybrid, top_k 50)",
            lambda conv, question: client.agents.passages.search(agents[conv["name"]], query=question, top_k=TOP),
            lambda found: [next(t for t in r.tags or [] if t.startswith("D")) for r in found.results],
        )


def agent_file(conv: dict[str, Any]) -> dict[str, Any]:
    """A conversation as an agent file: one agent whose messages are the turns, in order, dated."""
    first = conv["speakers"][0]
    messages = [
        {
            "id": local_id("message", i),
            "role": "user" if speaker == first else "assistant",
            "content": [{"type": "text", "text": text}],
            "created_at": when.isoformat(),
        }
        for i, ((_dia, _n, when, text), speaker) in enumerate(zip(conv["turns"], conv["turn_speakers"], strict=True))
    ]
    return {
        "agents": [
            {
                "id": "agent-0",
                "name": conv["name"],
                "agent_type": "letta_v1_agent",
                "system": "You are a helpful assistant.",
                "llm_config": {"model": "gpt-4o-mini", "model_endpoint_type": "openai", "context_window": 128000},
                "block_ids": [],
                "tool_ids": [],
                "messages": messages,
                # Only the last turns are in the context window; the rest is recall memory.
                "in_context_message_ids": [m["id"] for m in messages[-20:]],
            }
        ],
        "blocks": [],
        "tools": [],
        "groups": [],
        "files": [],
        "sources": [],
        "mcp_servers": [],
    }


def run_recall(data: list[dict[str, Any]], args: Any) -> None:
    from accounts.models import Organization
    from agents.models import Message
    from bench.stack import live_server
    from lib.ids import parse_id, public_id

    org = Organization.objects.create(name="locomo")
    with live_server(org) as served:
        client = _client(served)
        agents: dict[str, str] = {}
        dia_of: dict[str, str] = {}
        started = time.perf_counter()
        for conv in data:
            document = json.dumps(agent_file(conv)).encode()
            imported = client.agents.import_file(file=(f"{conv['name']}.af", document, "application/json"))
            [agent_id] = imported.agent_ids
            agents[conv["name"]] = agent_id
            # The turns' messages in order (the bench's bookkeeping of which turn each message is).
            texts = [text for *_, text in conv["turns"]]
            stored = list(
                Message.objects.filter(agent_id=parse_id("agent", agent_id), text__in=set(texts))
                .order_by("created_at", "id")
                .values_list("id", "text")
            )
            if [text for _, text in stored] != texts:
                raise RuntimeError(f"{conv['name']}: the imported messages are not the turns in order")
            for (pk, _text), (dia, *_rest) in zip(stored, conv["turns"], strict=True):
                dia_of[public_id("message", pk)] = dia
        total = sum(len(c["turns"]) for c in data)
        wait_embedded(Message.objects.filter(organization=org, embedding_hash="").exclude(text=""), "messages")
        elapsed = time.perf_counter() - started
        print(f"import: {total} turns as messages imported and embedded in {elapsed:.1f} s", flush=True)
        _ask_all(
            data,
            "recall memory through the API, messages.search (hybrid, limit 50)",
            lambda conv, question: client.messages.search(query=question, agent_id=agents[conv["name"]], limit=TOP),
            lambda found: [dia_of[m.message_id] for m in found if m.message_id in dia_of],
        )
