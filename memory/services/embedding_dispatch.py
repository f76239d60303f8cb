"""When embeddings are written: after the commit that stored the rows, on a Celery worker (queue `embeddings`)
when REDIS_URL is set, else on this process's one background embedder thread. The work itself is
memory.services.embeddings (what the tasks in memory.tasks run).

Groups (a run's messages, once per run) are gathered per process for GROUPS_COALESCE_SECONDS and sent as one
task for up to GROUPS_PER_TASK of them: a task per run cost a Celery round trip per message (the broker's push,
the worker's pop, its unacked bookkeeping and ack: about as much worker CPU as the run's own step), and one model
call per run instead of a batch."""

import functools
import logging
from collections import defaultdict
from typing import Any, NamedTuple

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.utils import timezone

from lib.background import Batcher, Worker
from memory.embeddings import EmbeddingError, resolve_model
from memory.models import EmbeddingJob
from memory.services.embeddings import (
    BATCH,
    EMBEDDED_MODELS,
    GROUP_FIELDS,
    _model,
    group_ids,
    reembed_run,
    rows_embed,
)
from memory.statistics import rows_written

logger = logging.getLogger(__name__)


def _run_embedding(label: str, ids: list[str]) -> None:
    try:
        rows_embed(label=label, ids=ids)
    except EmbeddingError:
        logger.exception("embedding %d %s rows failed; they stay findable by text", len(ids), label)


def _run_in_thread(label: str, ids: list[str]) -> None:
    try:
        _run_embedding(label, ids)
    finally:
        connection.close()


class _ToEmbed(NamedTuple):
    """Rows of `label` by id, or a whole group (field, value) that the background worker resolves to ids."""

    label: str
    ids: list[str]
    group: tuple[str, str] | None = None


COALESCE_SECONDS = 0.25


def _embed_batch(batch: list[_ToEmbed]) -> None:
    """Embed what was pending, one model call per label: a batch amortises the model call."""
    close_old_connections()
    try:
        ids: dict[str, list[str]] = defaultdict(list)
        for item in batch:
            ids[item.label].extend(item.ids)
        for item in batch:
            if item.group is not None:
                field, value = item.group
                ids[item.label].extend(group_ids(label=item.label, field=field, value=value))
        for label, label_ids in ids.items():
            _run_embedding(label, label_ids)
    finally:
        connection.close()


# Embedded profile (messages, API inserts): one low-priority worker per process that embeds rows in batches,
# gathered for COALESCE_SECONDS, so the agent's own threads keep the CPU while a conversation is busy. One drain is
# queued at a time: rows written while a batch is embedded wait for the next one (a drain per write would each wait
# COALESCE_SECONDS, and a stream of single inserts would be embedded a few rows at a time). At exit it finishes its
# batch (a daemon thread killed inside onnxruntime aborts the process: "terminate called without an active
# exception"); rows not yet embedded stay findable by text (a re-embed job embeds them).
_background: Batcher[_ToEmbed] = Batcher(
    Worker("engram-embedder", nice=10, exit_timeout=10.0), _embed_batch, coalesce_seconds=COALESCE_SECONDS
)

GROUPS_COALESCE_SECONDS = 0.25
GROUPS_PER_TASK = 64


def _send_groups(groups: list[tuple[str, str, str]]) -> None:
    """Send (label, field, value) groups as `memory.embed_groups` tasks of up to GROUPS_PER_TASK values each."""
    from memory.tasks import embed_groups_task

    values: dict[tuple[str, str], list[str]] = defaultdict(list)
    for label, field, value in groups:
        values[(label, field)].append(value)
    for (label, field), group_values in values.items():
        for begin in range(0, len(group_values), GROUPS_PER_TASK):
            embed_groups_task.delay(label, field, group_values[begin : begin + GROUPS_PER_TASK])


# With REDIS_URL: the groups to embed, gathered for GROUPS_COALESCE_SECONDS on one background worker of this process
# and sent as `memory.embed_groups` tasks of up to GROUPS_PER_TASK groups each. One send is queued at a time (groups
# submitted meanwhile wait for the next). At exit the send at hand finishes (the worker's exit_timeout); groups
# submitted after that are not embedded, and stay findable by their words. A forked child (a prefork pool process)
# starts with nothing pending and nothing queued.
_group_sender: Batcher[tuple[str, str, str]] = Batcher(
    Worker("engram-embed-groups", exit_timeout=5.0), _send_groups, coalesce_seconds=GROUPS_COALESCE_SECONDS
)


def embedding_groups_send() -> None:
    """Send the groups waiting in this process now, from this thread, without waiting for the drain (a Celery
    worker's shutdown, after its last task)."""
    _send_groups(_group_sender.take())


_large_batches = Worker("engram-embed", exit_timeout=10.0)  # an insert beyond ENGRAM_EMBED_INLINE_MAX rows
_reembeds = Worker("engram-reembed", exit_timeout=10.0)  # jobs after an agent's embedding model changed


def embed_after_commit(*, label: str, ids: list[str], background: bool = False) -> None:
    """Embed these rows once the current transaction commits. With REDIS_URL: Celery tasks on the `embeddings`
    queue, BATCH rows each. Embedded profile: inline in this thread for up to ENGRAM_EMBED_INLINE_MAX rows (a
    tool call's insert is searchable by meaning when it returns), in a background thread beyond that or when
    `background` (messages: the agent's step must not wait for them)."""
    if not ids:
        return
    ids = [str(pk) for pk in ids]

    def dispatch() -> None:
        rows_written(_model(label)._meta.db_table, len(ids))
        if settings.REDIS_URL:
            from memory.tasks import embed_rows_task

            for begin in range(0, len(ids), BATCH):
                embed_rows_task.delay(label, ids[begin : begin + BATCH])
        elif background:
            _background.submit(_ToEmbed(label, ids))
        elif len(ids) <= settings.ENGRAM_EMBED_INLINE_MAX:
            _run_embedding(label, ids)
        else:
            _large_batches.submit(functools.partial(_run_in_thread, label, ids))

    transaction.on_commit(dispatch)


def embed_group_after_commit(*, label: str, field: str, value: str) -> None:
    """Embed the rows of `label` whose `field` is `value` (e.g. a run's messages) once the transaction commits:
    one dispatch for the whole group, which is resolved to rows where the embedding runs (a Celery task on the
    `embeddings` queue with the other groups of the moment, or the background thread of the embedded profile),
    never on the caller's thread."""
    if field not in GROUP_FIELDS.get(label, ()):
        raise ValueError(f"{label} rows are not embedded by {field}")

    def dispatch() -> None:
        if settings.REDIS_URL:
            _group_sender.submit((label, field, value))
        else:
            _background.submit(_ToEmbed(label, [], (field, value)))

    transaction.on_commit(dispatch)


def agent_reembed_start(*, agent: Any) -> EmbeddingJob:
    """Start re-embedding every passage and message of `agent` with its (new) embedding model, after commit.
    Earlier unfinished jobs of the agent are cancelled. Progress: EmbeddingJob.done / total (and .progress)."""
    handle = resolve_model(agent.embedding)
    with transaction.atomic():
        EmbeddingJob.objects.filter(
            agent_id=agent.id, status__in=[EmbeddingJob.Status.QUEUED, EmbeddingJob.Status.RUNNING]
        ).update(status=EmbeddingJob.Status.CANCELLED, finished_at=timezone.now())
        total = sum(
            _model(label)._default_manager.filter(agent_id=agent.id).exclude(text="").count()
            for label in EMBEDDED_MODELS
        )
        job = EmbeddingJob.objects.create(
            organization_id=agent.organization_id, agent_id=agent.id, model=handle, total=total
        )
        job_id = str(job.id)

        def dispatch() -> None:
            if settings.REDIS_URL:
                from memory.tasks import reembed_agent_task

                reembed_agent_task.delay(job_id)
            elif total <= settings.ENGRAM_EMBED_INLINE_MAX:
                reembed_run(job_id=job_id)
            else:
                _reembeds.submit(functools.partial(_reembed_in_thread, job_id))

        transaction.on_commit(dispatch)
    return job


def _reembed_in_thread(job_id: str) -> None:
    close_old_connections()
    try:
        reembed_run(job_id=job_id)
    finally:
        connection.close()
