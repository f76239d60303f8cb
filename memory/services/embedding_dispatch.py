"""When embeddings are written: after the commit that stored the rows, on a Celery worker (queue `embeddings`)
when REDIS_URL is set, else on this process's one background embedder thread. The work itself is
memory.services.embeddings (what the tasks in memory.tasks run).

Groups (a run's messages, once per run) are gathered per process for GROUPS_COALESCE_SECONDS and sent as one
task for up to GROUPS_PER_TASK of them: a task per run cost a Celery round trip per message (the broker's push,
the worker's pop, its unacked bookkeeping and ack: about as much worker CPU as the run's own step), and one model
call per run instead of a batch."""

import functools
import logging
import threading
import time
from collections import defaultdict
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.utils import timezone

from lib.background import Worker, after_fork_in_child
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


class _BackgroundEmbedder:
    """One low-priority worker per process that embeds rows in batches (embedded profile, messages): a batch
    amortises the model call, and the agent's own threads keep the CPU while a conversation is busy. At exit it
    finishes its batch (a daemon thread killed inside onnxruntime aborts the process: "terminate called without
    an active exception"); rows not yet embedded stay findable by text (a re-embed job embeds them)."""

    COALESCE_SECONDS = 0.25

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[str, list[str]] = defaultdict(list)
        self._groups: list[tuple[str, str, str]] = []
        self._scheduled = False  # a drain is queued that has not yet taken the pending rows
        self._worker = Worker("engram-embedder", nice=10, exit_timeout=10.0)

    def submit(self, label: str, ids: list[str] | None = None, group: tuple[str, str] | None = None) -> None:
        """Queue rows by id, or a whole group (field, value) that the worker resolves to ids."""
        with self._lock:
            self._pending[label].extend(ids or [])
            if group is not None:
                self._groups.append((label, *group))
            if self._scheduled:
                return
            self._scheduled = True
        self._worker.submit(self._drain)

    def _drain(self) -> None:
        """Embed what is pending, after a short wait that lets a burst coalesce into one batch. One drain at a
        time is queued: rows written while a batch is embedded wait for the next one (a drain per write would
        each wait COALESCE_SECONDS, and a stream of single inserts would be embedded a few rows at a time)."""
        time.sleep(self.COALESCE_SECONDS)
        with self._lock:
            batches, self._pending = self._pending, defaultdict(list)
            groups, self._groups = self._groups, []
            self._scheduled = False
        close_old_connections()
        try:
            for label, field, value in groups:
                batches[label].extend(group_ids(label=label, field=field, value=value))
            for label, ids in batches.items():
                _run_embedding(label, ids)
        finally:
            connection.close()


_background = _BackgroundEmbedder()

GROUPS_COALESCE_SECONDS = 0.25
GROUPS_PER_TASK = 64


class _GroupSender:
    """With REDIS_URL: the groups to embed, gathered for GROUPS_COALESCE_SECONDS on one background worker of this
    process and sent as `memory.embed_groups` tasks of up to GROUPS_PER_TASK groups each. One send is queued at a
    time (groups submitted meanwhile wait for the next). At exit the send at hand finishes (the worker's
    exit_timeout); groups submitted after that are not embedded, and stay findable by their words."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, str], list[str]] = defaultdict(list)
        self._scheduled = False
        self._worker = Worker("engram-embed-groups", exit_timeout=5.0)

    def submit(self, label: str, field: str, value: str) -> None:
        with self._lock:
            self._pending[(label, field)].append(value)
            if self._scheduled:
                return
            self._scheduled = True
        self._worker.submit(self._send)

    def flush(self) -> None:
        """Wait until the groups submitted so far are sent (tests)."""
        self._worker.flush()

    def after_fork_in_child(self) -> None:
        """A forked child (a prefork pool process) starts with nothing pending and nothing scheduled."""
        self._lock = threading.Lock()
        self._pending = defaultdict(list)
        self._scheduled = False

    def send_now(self) -> None:
        """Send what is pending from this thread, without waiting (a Celery worker that shuts down)."""
        with self._lock:
            pending, self._pending = self._pending, defaultdict(list)
        from memory.tasks import embed_groups_task

        for (label, field), values in pending.items():
            for begin in range(0, len(values), GROUPS_PER_TASK):
                embed_groups_task.delay(label, field, values[begin : begin + GROUPS_PER_TASK])

    def _send(self) -> None:
        time.sleep(GROUPS_COALESCE_SECONDS)
        with self._lock:
            self._scheduled = False
        self.send_now()


_group_sender = _GroupSender()
after_fork_in_child(_group_sender.after_fork_in_child)


def embedding_groups_send() -> None:
    """Send the groups waiting in this process now (a Celery worker's shutdown, after its last task)."""
    _group_sender.send_now()


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
            _background.submit(label, ids)
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
            _group_sender.submit(label, field, value)
        else:
            _background.submit(label, group=(field, value))

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
