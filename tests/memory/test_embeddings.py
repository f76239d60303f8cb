"""Embedding models per agent, the embedding task, and re-embed jobs."""

import json
from typing import Any

import numpy as np
import pytest

from memory.embeddings import LOCAL_MINILM, content_hash, embed_texts, resolve_model
from memory.models import EmbeddingJob, Passage
from memory.search import passage_search
from memory.selectors_passages import embedding_job_latest
from memory.services.embedding_dispatch import agent_reembed_start
from memory.services.embeddings import PASSAGES, pending_ids
from memory.services.passages import PassageInput
from memory.tasks import embed_rows_task
from tests.factories import make_agent
from tests.memory.conftest import embedding_requests

REMOTE = "openai/text-embedding-3-small"


def test_the_default_local_model_gives_unit_vectors_that_know_meaning() -> None:
    vectors = embed_texts("", ["I adopted a puppy", "We got a new dog", "The stock market fell"])
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2
    assert resolve_model("") == LOCAL_MINILM
    assert resolve_model("local/all-minilm-l6-v2") == LOCAL_MINILM


def test_a_passage_of_an_agent_with_another_model_is_embedded_and_searched_with_it(
    alice: Any, insert: Any, fake_llm: Any
) -> None:
    remote_agent = make_agent(alice, name="remote", embedding=REMOTE)
    local_agent = make_agent(alice, name="local")
    insert(remote_agent, ["The cat sat on the mat", "Rockets fly to the moon"])
    insert(local_agent, ["The cat sat on the mat"])

    remote_rows = Passage.objects.filter(agent=remote_agent)
    assert {(p.embedding_model, p.embedding_dim) for p in remote_rows} == {(REMOTE, 8)}
    assert Passage.objects.get(agent=local_agent).embedding_model == LOCAL_MINILM
    assert Passage.objects.get(agent=local_agent).embedding_dim == 384
    before = len(embedding_requests(fake_llm))

    hits = passage_search(agent=remote_agent, query="cat on a mat", mode="vector")

    assert hits[0].passage.text == "The cat sat on the mat"
    assert {h.passage.agent_id for h in hits} == {remote_agent.id}
    query_requests = embedding_requests(fake_llm)[before:]
    assert [r["input"] for r in query_requests] in (["cat on a mat"], [["cat on a mat"]])
    assert query_requests[0]["model"] == "text-embedding-3-small"


def test_the_embedding_task_is_idempotent_and_takes_json_args(agent_a: Any) -> None:
    from memory.services.passages import passage_insert_many

    rows = passage_insert_many(agent=agent_a, items=[PassageInput(text=f"fact {i}") for i in range(3)])
    args = json.loads(json.dumps([PASSAGES, [str(p.pk) for p in rows]]))
    assert pending_ids(label=PASSAGES, agent_id=agent_a.id) != []

    assert embed_rows_task(*args) == 3
    assert embed_rows_task(*args) == 0  # same model, same text: nothing to do
    assert pending_ids(label=PASSAGES, agent_id=agent_a.id) == []
    row = Passage.objects.get(pk=rows[0].pk)
    assert row.embedding_hash == content_hash(LOCAL_MINILM, "fact 0")
    assert row.embedding is not None
    assert row.embedding.shape == (384,)


def test_the_embedding_task_skips_rows_that_are_gone(agent_a: Any) -> None:
    assert embed_rows_task(PASSAGES, ["00000000-0000-4000-8000-000000000000"]) == 0


def test_changing_the_embedding_model_re_embeds_with_progress(
    agent_a: Any, insert: Any, fake_llm: Any, alice: Any, django_capture_on_commit_callbacks: Any
) -> None:
    insert(agent_a, [f"memory number {i} about sailing" for i in range(5)])
    agent_a.embedding = REMOTE
    agent_a.save()
    # Until re-embedded, vector search with the new model sees nothing (the old vectors are another model's).
    assert passage_search(agent=agent_a, query="sailing", mode="vector") == []

    with django_capture_on_commit_callbacks(execute=True):
        job = agent_reembed_start(agent=agent_a)

    job.refresh_from_db()
    assert job.status == EmbeddingJob.Status.COMPLETED
    assert (job.done, job.total, job.progress) == (5, 5, 1.0)
    assert embedding_job_latest(actor=alice, agent_id=agent_a.id) == job
    assert set(Passage.objects.values_list("embedding_model", "embedding_dim")) == {(REMOTE, 8)}
    assert len(passage_search(agent=agent_a, query="sailing", mode="vector")) == 5


def test_a_new_re_embed_job_cancels_the_unfinished_one(agent_a: Any) -> None:
    first = agent_reembed_start(agent=agent_a)  # commit callbacks never run: it stays queued
    second = agent_reembed_start(agent=agent_a)
    first.refresh_from_db()
    assert first.status == EmbeddingJob.Status.CANCELLED
    assert second.status == EmbeddingJob.Status.QUEUED


def test_charlie_sees_no_re_embed_job_of_alices_agent(agent_a: Any, charlie: Any) -> None:
    agent_reembed_start(agent=agent_a)
    assert embedding_job_latest(actor=charlie, agent_id=agent_a.id) is None


@pytest.mark.parametrize("handle", ["local/nope", "local/all-minilm-l6-v2-fp32"])
def test_an_unknown_local_model_is_a_clear_error(handle: str) -> None:
    from memory.embeddings import EmbeddingError

    with pytest.raises(EmbeddingError, match="unknown local embedding model"):
        embed_texts(handle, ["x"])
