"""Embedding tasks (`embeddings` queue, see config/celery.py): thin adapters that take ids and call one service."""

from typing import Any

from celery import shared_task

from memory.embeddings import EmbeddingError
from memory.services.embeddings import group_embed, groups_embed, reembed_run, rows_embed

# Embedding batches: redelivered if a worker dies, retried while the embedding model fails; idempotent (content
# hashes), so a repeated batch only embeds rows still out of date.
_BATCH: dict[str, Any] = {
    "acks_late": True,
    "autoretry_for": (EmbeddingError,),
    "retry_backoff": True,
    "retry_jitter": True,
    "max_retries": 5,
    "soft_time_limit": 600,
    "time_limit": 660,
}


@shared_task(name="memory.embed_rows", **_BATCH)
def embed_rows_task(label: str, ids: list[str]) -> int:
    return rows_embed(label=label, ids=ids)


@shared_task(name="memory.embed_group", **_BATCH)
def embed_group_task(label: str, field: str, value: str) -> int:
    """A group of rows (e.g. a run's messages) in one task. Sent by earlier versions (one per run); still handled
    for the messages they left queued."""
    return group_embed(label=label, field=field, value=value)


@shared_task(name="memory.embed_groups", **_BATCH)
def embed_groups_task(label: str, field: str, values: list[str]) -> int:
    """Several groups at once (the runs that ended in the same moment: memory.services.embedding_dispatch)."""
    return groups_embed(label=label, field=field, values=values)


@shared_task(name="memory.reembed_agent", acks_late=True, max_retries=0, soft_time_limit=3000, time_limit=3300)
def reembed_agent_task(job_id: str) -> None:
    reembed_run(job_id=job_id)
