"""File ingestion and file search: how fast an uploaded file becomes searchable, and semantic_search_files latency.

1. A generated 200-page PDF and a generated 5 MB text file are processed (parse → chunk → embed with the folder's
   model, --embedding, default the server default → index) exactly as an upload is: pages/s, chunks/s and seconds
   until searchable.
2. semantic_search_files p50/p95 over a folder of --chunks chunks (default 10,000: random unit vectors recorded as
   the --embedding model's, so no model runs at ingest; the query is embedded inside each timed search, as in
   production).
3. With `--parts stages`: where one search spends its time, stage by stage (bench/file_search_stages.py; with
   --explain on PostgreSQL, EXPLAIN (ANALYZE, BUFFERS) of each statement).

    nice python bench/file_ingest.py --db postgres [--pages 200] [--text-mb 5] [--chunks 10000] [--queries 100]
        [--parts ingest,search,stages] [--modes hybrid,text,vector] [--explain] [--embedding HANDLE]

    e.g. --embedding local/wordllama-l2-256 (the opt-in static model) against the default local/all-minilm-l6-v2-int8
"""

import argparse
import datetime as dt
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._django import test_database  # noqa: E402

WORDS = [
    *("harbour", "ship", "cargo", "crane", "tide", "anchor", "pilot", "berth", "customs", "ledger", "invoice"),
    *("freight", "container", "manifest", "dock", "storm", "engine", "rudder", "hull", "crew", "captain"),
    *("voyage", "route", "weather", "signal", "radio", "beacon", "lighthouse", "chart", "compass"),
]


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000


def prose(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


def ingest(label: str, name: str, data: bytes, organization_id: object, pages: int | None, embedding: str) -> None:
    from files.models import File
    from files.services.folders import folder_create
    from files.services.processing import flush
    from files.services.uploads import file_upload

    folder = folder_create(organization_id=organization_id, name=f"ingest-{label}", embedding=embedding)  # type: ignore[arg-type]
    # The upload as the API makes it (outside a transaction its processing starts at once, on the file worker);
    # timed until the file is completed, i.e. searchable.
    start, cpu = time.perf_counter(), time.process_time()
    file, _ = file_upload(folder=folder, name=name, data=data)
    flush()
    seconds = time.perf_counter() - start
    cpu = time.process_time() - cpu  # all of this process's threads: the file worker's parsing and embedding
    row = File.objects.get(pk=file.id)
    assert row.status == "completed", row.error_message
    rate = f"{pages / seconds:.1f} pages/s, " if pages else ""
    cpu_rate = f"{pages / cpu:.1f} pages, " if pages else ""
    print(
        f"{label} ({folder.embedding}): {len(data) / 1e6:.1f} MB, {row.total_chunks} chunks; "
        f"searchable after {seconds:.2f} s "
        f"({rate}{(row.total_chunks or 0) / seconds:.1f} chunks/s); CPU {cpu:.2f} s "
        f"({cpu_rate}{(row.total_chunks or 0) / cpu:.1f} chunks per CPU second; load average {_load()})"
    )


def build_folder(
    organization_id: object, chunks: int, rng: random.Random, embedding: str, words: int = 60
) -> tuple[Any, Any]:
    """A folder of `chunks` chunks of `words` words (random unit vectors recorded as `embedding`'s) attached to a
    new agent."""
    from accounts.models import Organization
    from agents.models import Agent
    from agents.services.folders import agent_folder_attach
    from files.models import File, FileChunk, Folder
    from memory.ddl import ensure_vector_index
    from memory.embeddings import embed_texts, resolve_model

    model = resolve_model(embedding)
    dim = int(embed_texts(model, ["the model's dimension"]).shape[1])
    org = Organization.objects.get(pk=organization_id)
    folder = Folder.objects.create(organization=org, name="search", embedding=model)
    file = File.objects.create(
        organization=org, folder=folder, file_name="big.txt", original_file_name="big.txt", status="completed"
    )
    ensure_vector_index(FileChunk._meta.db_table, dim)
    now = dt.datetime.now(dt.UTC)
    batch: list[FileChunk] = []
    for i in range(chunks):
        vector = np.random.default_rng(i).standard_normal(dim).astype(np.float32)
        vector /= np.linalg.norm(vector)
        batch.append(
            FileChunk(
                organization=org, folder=folder, file=file, position=i, text=prose(rng, words),
                created_at=now + dt.timedelta(microseconds=i), embedding=vector, embedding_model=model,
                embedding_dim=dim,
            )
        )  # fmt: skip
        if len(batch) == 1000:
            FileChunk.objects.bulk_create(batch)
            batch = []
    FileChunk.objects.bulk_create(batch)
    agent = Agent.objects.create(organization=org, name="reader", model="x")
    agent_folder_attach(agent=agent, folder=folder)
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:  # the steady state autovacuum reaches within a minute of the load
            cursor.execute("VACUUM (ANALYZE) files_filechunk")
    return agent, folder


def search_latency(agent: Any, chunks: int, queries: list[str], modes: list[str]) -> None:
    from django.db import connection

    from bench.file_search_stages import _server_cpu, _server_pid
    from files import search

    search.semantic_search(agent_id=agent.id, organization_id=agent.organization_id, query="warm up the model")
    pid = _server_pid()  # PostgreSQL: the server process of this connection, whose CPU is the search's other half
    for mode in modes:
        times: list[float] = []
        cpu_times: list[float] = []
        server = _server_cpu(pid)
        for query in queries:
            start, cpu = time.perf_counter(), time.process_time()
            search.semantic_search(
                agent_id=agent.id, organization_id=agent.organization_id, query=query, limit=5, mode=mode
            )
            times.append(time.perf_counter() - start)
            cpu_times.append(time.process_time() - cpu)
        server = (_server_cpu(pid) - server) / len(queries) * 1000
        print(
            f"semantic_search_files at {chunks:,} chunks ({connection.vendor}, {mode}, {len(queries)} queries): "
            f"p50 {percentile(times, 0.5):.1f} ms, p95 {percentile(times, 0.95):.1f} ms; this process's CPU per "
            f"search p50 {percentile(cpu_times, 0.5):.1f} ms, p95 {percentile(cpu_times, 0.95):.1f} ms"
            + (f"; database server CPU per search {server:.1f} ms (mean)" if pid is not None else "")
            + f" (load average {_load()})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--pages", type=int, default=200, help="pages of the generated PDF")
    parser.add_argument("--text-mb", type=float, default=5.0, help="size of the generated text file")
    parser.add_argument("--chunks", type=int, default=10_000, help="chunks in the searched folder")
    parser.add_argument(
        "--chunk-words", type=int, default=60, help="words per chunk (the chunker makes ~220 of prose: 256 tokens)"
    )
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--parts", default="ingest,search", help="which parts to run: ingest, search or both")
    parser.add_argument(
        "--explain",
        action="store_true",
        help="with --parts stages, PostgreSQL: EXPLAIN (ANALYZE, BUFFERS) each statement",
    )
    parser.add_argument("--modes", default="hybrid", help="search modes timed, in order: hybrid, text, vector")
    parser.add_argument("--embedding", default="", help="the folders' embedding model (default: the server default)")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with test_database(args.db):
        from django.conf import settings

        from accounts.models import Organization
        from tests.files.samples import make_pdf

        settings.ENGRAM_FILE_MAX_BYTES = max(settings.ENGRAM_FILE_MAX_BYTES, int(args.text_mb * 1.1e6) + 1)
        org = Organization.objects.create(name="bench")
        parts = set(args.parts.split(","))
        pdf = make_pdf([[prose(rng, 12) for _ in range(40)] for _ in range(args.pages)])
        if "ingest" in parts:
            ingest("PDF", "report.pdf", pdf, org.id, args.pages, args.embedding)
        paragraphs: list[str] = []
        size = 0
        while size < args.text_mb * 1e6:
            paragraph = "\n".join(prose(rng, 14) for _ in range(rng.randint(2, 6)))
            paragraphs.append(paragraph)
            size += len(paragraph) + 2
        if "ingest" in parts:
            ingest("text", "notes.txt", "\n\n".join(paragraphs).encode(), org.id, None, args.embedding)
        if parts & {"search", "stages"}:
            agent, folder = build_folder(org.id, args.chunks, rng, args.embedding, args.chunk_words)
            queries = [
                f"where did the {rng.choice(WORDS)} and the {rng.choice(WORDS)} go?" for _ in range(args.queries)
            ]
            if "stages" in parts:
                from bench.file_search_stages import recall, stages

                stages(agent, folder, queries, explain=args.explain)
                recall(folder)
            if "search" in parts:
                search_latency(agent, args.chunks, queries, args.modes.split(","))


if __name__ == "__main__":
    main()
