"""Writing embeddings: for passages (memory.Passage) and messages (agents.Message, reached through the app
registry by label, never imported). Rows are embedded with their agent's current embedding model; each row keeps
sha256(model + text) of what it was embedded from, so embedding a row twice is a no-op."""

import logging
from collections import Counter, defaultdict
from typing import Any, cast

from django.apps import apps
from django.db import connection, transaction
from django.db.models import F, Field, Model
from django.db.models.functions import Coalesce
from django.utils import timezone

from memory.ddl import ensure_vector_index
from memory.embeddings import EmbeddingError, content_hash, embed_texts, resolve_model
from memory.models import EmbeddingJob
from memory.services.usage import embedding_usage_add

logger = logging.getLogger(__name__)

PASSAGES = "memory.Passage"
MESSAGES = "agents.Message"
EMBEDDED_MODELS = (PASSAGES, MESSAGES)
BATCH = 64


def _model(label: str) -> type[Model]:
    if label not in EMBEDDED_MODELS:
        raise ValueError(f"{label} has no embeddings")
    return apps.get_model(label)


def rows_embed(*, label: str, ids: list[str]) -> int:
    """Embed the rows `ids` of `label` that are not yet embedded from their current text with their agent's
    current model (a shared archive's passage: the archive's). Returns how many rows were written. Idempotent;
    rows that are gone are skipped."""
    model_cls = _model(label)
    # A shared archive's passage (no agent) is embedded with the archive's model.
    owner = Coalesce("agent__embedding", "archive__embedding") if label == PASSAGES else F("agent__embedding")
    rows = model_cls._default_manager.filter(pk__in=ids).values_list(
        "id", "text", "embedding_hash", owner, "organization_id", "agent_id"
    )
    todo: dict[str, list[tuple[Any, str, str]]] = defaultdict(list)
    owners: dict[Any, tuple[Any, Any]] = {}
    for pk, text, stored_hash, agent_embedding, organization_id, agent_id in rows:
        if not text or not text.strip():
            continue
        handle = resolve_model(agent_embedding)
        digest = content_hash(handle, text)
        if digest != stored_hash:
            todo[handle].append((pk, text, digest))
            owners[pk] = (organization_id, agent_id)
    written = 0
    for handle, items in todo.items():
        # Texts of similar length in each batch: the local model pads a batch to its longest text, so unsorted
        # batches of conversation turns cost ~1.5x the CPU.
        items.sort(key=lambda item: len(item[1]))
        for begin in range(0, len(items), BATCH):
            batch = items[begin : begin + BATCH]
            vectors = embed_texts(handle, [text for _, text, _ in batch])
            dim = int(vectors.shape[1])
            ensure_vector_index(model_cls._meta.db_table, dim)
            field = cast(Field[Any, Any], model_cls._meta.get_field("embedding"))
            pk_field = cast(Field[Any, Any], model_cls._meta.get_field("id"))
            rows_sql = [
                (
                    field.get_db_prep_value(vector, connection),
                    handle,
                    dim,
                    digest,
                    pk_field.get_db_prep_value(pk, connection),
                )
                for (pk, _text, digest), vector in zip(batch, vectors, strict=True)
            ]
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.executemany(
                    f"UPDATE {model_cls._meta.db_table} SET embedding = %s, embedding_model = %s, "  # noqa: S608
                    "embedding_dim = %s, embedding_hash = %s WHERE id = %s",
                    rows_sql,
                )
                for (organization_id, agent_id), count in Counter(owners[pk] for pk, _, _ in batch).items():
                    embedding_usage_add(organization_id=organization_id, agent_id=agent_id, model=handle, texts=count)
            written += len(batch)
    return written


# Fields by which a group of rows can be embedded with one dispatch (`embed_group_after_commit`).
GROUP_FIELDS = {MESSAGES: ("run_id",)}


def group_ids(*, label: str, field: str, value: str) -> list[str]:
    return groups_ids(label=label, field=field, values=[value])


def groups_ids(*, label: str, field: str, values: list[str]) -> list[str]:
    if field not in GROUP_FIELDS.get(label, ()):
        raise ValueError(f"{label} rows are not embedded by {field}")
    rows = _model(label)._default_manager.filter(**{f"{field}__in": values}).exclude(text="").order_by("pk")
    return [str(pk) for pk in rows.values_list("pk", flat=True)]


def group_embed(*, label: str, field: str, value: str) -> int:
    """Embed every row of `label` whose `field` is `value` (those already up to date are skipped)."""
    return groups_embed(label=label, field=field, values=[value])


def groups_embed(*, label: str, field: str, values: list[str]) -> int:
    """Embed every row of `label` whose `field` is one of `values`, BATCH rows at a time (one model call each)."""
    ids = groups_ids(label=label, field=field, values=values)
    return sum(rows_embed(label=label, ids=ids[begin : begin + BATCH]) for begin in range(0, len(ids), BATCH))


def pending_ids(*, label: str, agent_id: Any, limit: int | None = None) -> list[str]:
    """Rows of this agent without an embedding (or with one of another model)."""
    model_cls = _model(label)
    agent_model = model_cls._default_manager.filter(agent_id=agent_id).values_list("agent__embedding", flat=True)[:1]
    handle = resolve_model(agent_model[0] if agent_model else "")
    qs = model_cls._default_manager.filter(agent_id=agent_id).exclude(embedding_model=handle).exclude(text="")
    qs = qs.order_by("pk").values_list("pk", flat=True)
    return [str(pk) for pk in (qs[:limit] if limit else qs)]


# -- re-embedding after an agent's embedding model changes -----------------------------------------------------


def reembed_run(*, job_id: str) -> None:
    """Claims a queued job (conditional UPDATE) and works through the agent's rows in batches, recording
    progress after each; stops early when the job is cancelled. A redelivered job that is already running
    resumes: rows already embedded with the model are skipped by their content hash."""
    claimed = EmbeddingJob.objects.filter(
        id=job_id, status__in=[EmbeddingJob.Status.QUEUED, EmbeddingJob.Status.RUNNING]
    ).update(status=EmbeddingJob.Status.RUNNING, started_at=timezone.now(), done=0)
    if claimed != 1:
        return
    job = EmbeddingJob.objects.get(id=job_id)
    try:
        for label in EMBEDDED_MODELS:
            model_cls = _model(label)
            ids = [
                str(pk)
                for pk in model_cls._default_manager.filter(agent_id=job.agent_id)
                .exclude(text="")
                .order_by("pk")
                .values_list("pk", flat=True)
            ]
            for begin in range(0, len(ids), BATCH):
                batch = ids[begin : begin + BATCH]
                rows_embed(label=label, ids=batch)
                still_running = EmbeddingJob.objects.filter(id=job_id, status=EmbeddingJob.Status.RUNNING).update(
                    done=F("done") + len(batch)
                )
                if still_running != 1:
                    return
    except EmbeddingError as exc:
        EmbeddingJob.objects.filter(id=job_id, status=EmbeddingJob.Status.RUNNING).update(
            status=EmbeddingJob.Status.FAILED, error=str(exc)[:2000], finished_at=timezone.now()
        )
        raise
    EmbeddingJob.objects.filter(id=job_id, status=EmbeddingJob.Status.RUNNING).update(
        status=EmbeddingJob.Status.COMPLETED, finished_at=timezone.now()
    )
