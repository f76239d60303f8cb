"""local/wordllama-l2-256, the opt-in static embedding model: 256-dim unit vectors that know some meaning, the same
for a text whatever its batch or thread, the wordllama package's own vectors, read with no network; an agent
using it stores and finds archival passages and messages by meaning, with its own HNSW index on PostgreSQL."""

import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
from django.db import connection

from agents.runtime.recall import message_search
from agents.services.messages import MessageSpec, message_create_many
from files import chunking
from lib import catalogue
from memory import embeddings
from memory.ddl import vector_index_name
from memory.embeddings import (
    LOCAL_MAX_TOKENS,
    LOCAL_MODELS,
    LOCAL_WORDLLAMA,
    STATIC_SLICE,
    embed_query,
    embed_texts,
    resolve_model,
    token_counter,
)
from memory.models import Passage
from memory.search import passage_search
from memory.services.embeddings import MESSAGES, rows_embed
from tests.factories import make_agent

TEXTS = ["I adopted a puppy", "We got a new dog", "The stock market fell", "Interest rates rose again"]


def test_it_gives_unit_vectors_of_256_dimensions_that_know_meaning() -> None:
    vectors = embed_texts(LOCAL_WORDLLAMA, TEXTS)
    assert vectors.shape == (4, 256) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.1
    assert vectors[2] @ vectors[3] > vectors[2] @ vectors[0] + 0.1
    assert resolve_model(LOCAL_WORDLLAMA) == LOCAL_WORDLLAMA


def test_a_text_gets_the_same_vector_in_any_batch_and_from_any_thread() -> None:
    alone = [embed_texts(LOCAL_WORDLLAMA, [text])[0] for text in TEXTS]
    together = embed_texts(LOCAL_WORDLLAMA, [*reversed(TEXTS), "padding of another length " * 50])
    assert np.array_equal(np.stack(alone), together[3::-1])
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda i: embed_texts(LOCAL_WORDLLAMA, TEXTS * 50)[i % 4], range(64)))
    assert all(np.array_equal(vector, alone[i % 4]) for i, vector in enumerate(results))
    assert np.array_equal(embed_query(LOCAL_WORDLLAMA, TEXTS[0]), alone[0])


def test_its_vectors_are_the_wordllama_packages_own_and_loading_it_reaches_no_network(monkeypatch: Any) -> None:
    from pathlib import Path

    attempts: list[Any] = []

    def refuse(*args: Any, **kwargs: Any) -> None:
        attempts.append(args)
        raise OSError("no network in this test")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    model = embeddings._load_wordllama()  # our loader, fresh: the package's files and nothing else
    import wordllama  # its own loader, told where its files are (0.4.0.post1 looks for the tokenizer elsewhere)

    reference = wordllama.WordLlama.load(cache_dir=Path(wordllama.__file__).parent, disable_download=True)
    assert model.dim == 256 and model.table.shape == reference.embedding.shape
    assert np.allclose(model.embed(TEXTS), reference.embed(TEXTS, norm=True), atol=1e-5)
    assert np.array_equal(model.embed(TEXTS), embed_texts(LOCAL_WORDLLAMA, TEXTS))
    assert model.count(TEXTS) == [sum(e.attention_mask) for e in reference.tokenize(TEXTS)]  # what it averages
    assert attempts == []


def test_a_long_text_is_read_whole_and_an_empty_one_still_gets_a_unit_vector() -> None:
    word = embed_texts(LOCAL_WORDLLAMA, ["harbour harbour"])[0]
    long = embed_texts(LOCAL_WORDLLAMA, [" ".join(["harbour"] * (3 * STATIC_SLICE))])[0]
    assert float(word @ long) > 0.9999  # the mean of one repeated token: no truncation, summed in slices
    tail = embed_texts(LOCAL_WORDLLAMA, ["harbour " * 2000 + "stock market interest rates"])[0]
    assert not np.array_equal(tail, long)  # the last words still count (MiniLM would have dropped them)
    empty = embed_texts(LOCAL_WORDLLAMA, [""])[0]
    assert np.isfinite(empty).all() and np.linalg.norm(empty) == pytest.approx(1.0, abs=1e-5)


def test_the_catalogue_knows_it_and_chunks_fit_in_its_own_tokens() -> None:
    assert set(catalogue.LOCAL_EMBEDDINGS) == set(LOCAL_MODELS)
    for handle in catalogue.LOCAL_EMBEDDINGS:
        assert catalogue.embedding_dim(handle) == embed_texts(handle, ["x"]).shape[1]
    assert catalogue.LOCAL_STATIC_EMBEDDING in catalogue.embedding_models()
    count = token_counter(LOCAL_WORDLLAMA)
    assert count is not None
    assert count([""]) == [0]  # Llama 2's tokenizer as WordLlama runs it: no <s> added
    limit = chunking.chunk_tokens(LOCAL_WORDLLAMA, 300)
    assert limit == LOCAL_MAX_TOKENS
    text = "\n\n".join(f"## Part {i}\n" + "The harbour master checks every manifest twice. " * 40 for i in range(6))
    chunks = chunking.chunk_text(text, max_tokens=limit, count=count)
    sizes = count([c.text for c in chunks])
    assert max(sizes) <= limit and min(sizes) > limit // 4
    assert "".join("".join(c.text.split()) for c in chunks) == "".join(text.split())


def vector_indexes() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE indexname LIKE %s", ["%_emb256_hnsw"])
        return {row[0] for row in cursor.fetchall()}


@pytest.fixture
def fresh_index_cache(monkeypatch: Any) -> None:
    """ensure_vector_index remembers per process which indexes exist; one created in an earlier test's transaction
    was rolled back with it, so this test starts from an empty memory and the check goes to pg_indexes."""
    from memory import ddl

    monkeypatch.setattr(ddl, "_known_vector_indexes", set())


@pytest.mark.django_db
def test_an_agent_using_it_stores_and_finds_passages_and_messages_by_meaning(
    alice: Any, charlie: Any, insert: Any, fresh_index_cache: None
) -> None:
    agent = make_agent(alice, name="static", embedding=LOCAL_WORDLLAMA)
    insert(agent, ["My daughter plays the violin in an orchestra", "The invoice for the roof repair is overdue"])
    rows = Passage.objects.filter(agent=agent)
    assert {(p.embedding_model, p.embedding_dim) for p in rows} == {(LOCAL_WORDLLAMA, 256)}
    hits = passage_search(agent=agent, query="classical music concert", mode="vector")
    assert hits[0].passage.text.startswith("My daughter plays the violin")
    # Another organization's agent with the same model and a closer passage is not searched.
    outsider = make_agent(charlie, name="theirs", embedding=LOCAL_WORDLLAMA)
    insert(outsider, ["classical music concert"])
    assert {h.passage.agent_id for h in passage_search(agent=agent, query="classical music concert")} == {agent.id}

    messages = message_create_many(
        agent=agent,
        specs=[
            MessageSpec(role="user", text="We are flying to Japan in April"),
            MessageSpec(role="user", text="The dishwasher is leaking water"),
        ],
        publish=False,
    )
    assert rows_embed(label=MESSAGES, ids=[str(m.pk) for m in messages]) == 2
    found = message_search(agent=agent, query="holiday travel plans abroad", mode="vector")
    assert found[0].message.text == "We are flying to Japan in April"
    if connection.vendor == "postgresql":
        assert {vector_index_name(t, 256) for t in ("memory_passage", "agents_message")} <= vector_indexes()


def test_two_threads_loading_it_at_once_both_get_vectors() -> None:
    embeddings._local_model.cache_clear()
    barrier = threading.Barrier(2)

    def first_use(_: int) -> Any:
        barrier.wait()
        return embed_texts(LOCAL_WORDLLAMA, TEXTS)

    with ThreadPoolExecutor(max_workers=2) as pool:
        a, b = pool.map(first_use, range(2))
    assert np.array_equal(a, b)
