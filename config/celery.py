import os
from typing import Any

import redis.exceptions
from celery import Celery
from celery.signals import (
    task_postrun,
    task_prerun,
    worker_init,
    worker_process_init,
    worker_process_shutdown,
    worker_ready,
    worker_shutdown,
    worker_shutting_down,
)
from kombu.transport import redis as kombu_redis

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


class _RedisChannel(kombu_redis.Channel):
    def _connparams(self, asynchronous: bool = False) -> Any:
        if self.connection.client is None:
            # kombu 5.7: when Redis goes away (a restart), the worker closes its broker connection's transport
            # before the channel, whose close then restores the unacknowledged messages through a client it can no
            # longer build: an AttributeError that Celery calls "Unrecoverable error", and the worker exits. Raised
            # as the connection error it is, the close is ignored and the worker reconnects. The messages stay in
            # Redis's unacked set (kombu restores them later); their runs resume through the lease reaper.
            raise redis.exceptions.ConnectionError("the broker connection is closed")
        return super()._connparams(asynchronous=asynchronous)  # type: ignore[misc]  # not in kombu-stubs

    def _create_client(self, asynchronous: bool = False) -> Any:
        # kombu builds a new redis.Redis for every synchronous use: twice per task (the unacked bookkeeping when a
        # message arrives, its ack), and redis-py's constructor costs more than the commands (~6 % of a worker's
        # CPU under load). A client is thread-safe (its pool lends a connection per command), so one per pool
        # serves them all; a new pool (after a disconnect) gets a new client.
        if asynchronous:
            return super()._create_client(asynchronous=True)  # type: ignore[misc]
        pool = self.pool
        client = getattr(self, "_engram_client", None)
        if client is None or client.connection_pool is not pool:
            client = super()._create_client(asynchronous=False)  # type: ignore[misc]
            self._engram_client = client
        return client


class RedisTransport(kombu_redis.Transport):
    """kombu's Redis transport, surviving a Redis restart (settings.CELERY_BROKER_TRANSPORT)."""

    Channel = _RedisChannel


app = Celery("engram")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Queues by cost: long LLM runs, batched embeddings, short housekeeping.
app.conf.task_routes = {
    "agents.*": {"queue": "llm"},
    "memory.embed_*": {"queue": "embeddings"},
    "memory.reembed_*": {"queue": "embeddings"},
    "files.*": {"queue": "embeddings"},
}
app.autodiscover_tasks()  # memory.tasks
# The run task lives with the runtime; its name (agents.run_agent) and route are unchanged.
app.autodiscover_tasks(["agents.runtime"])


@task_prerun.connect
@task_postrun.connect
def close_old_connections(**kwargs: Any) -> None:
    """Around every task, what Django does around every request: drop connections past DB_CONN_MAX_AGE or
    broken by an error (the fixup's own closing is off, see CELERY_DB_REUSE_MAX)."""
    from django.db import close_old_connections as close

    close()


@worker_ready.connect
@worker_process_init.connect
def watch_database_pool(**kwargs: Any) -> None:
    """The worker (and each prefork pool process) replaces broken pooled connections within a second of a
    PostgreSQL restart (lib.dbpool)."""
    from lib.dbpool import pool_watch_start

    pool_watch_start()


@worker_ready.connect
def log_tool_sandbox(**kwargs: Any) -> None:
    """Workers run agents' custom tools: say which isolation they get, as the server does."""
    from agents.tools.sandbox import sandbox_log_status

    sandbox_log_status()


@worker_ready.connect
def start_run_sweeper(**kwargs: Any) -> None:
    """Every worker sweeps for lost run dispatches (a flushed broker) and for runs waiting on a free slot that
    nothing dispatched; a stale run is re-sent by one sweeper only (agents.runtime.dispatch.runs_sweep)."""
    from agents.runtime.dispatch import runs_sweeper_start
    from agents.runtime.lease import reaper_start

    runs_sweeper_start()
    reaper_start()  # runs whose holder died (their lease lapsed) are handed back within seconds


@worker_shutting_down.connect
def hand_back_runs(**kwargs: Any) -> None:
    """SIGTERM (warm shutdown): each run in flight finishes its current step, then goes back to the queue for
    another worker to resume (agents.runtime.lease), instead of holding the shutdown for the rest of the run."""
    from agents.runtime.lease import shutdown_begin

    shutdown_begin()


@worker_process_shutdown.connect
def metrics_process_dead(pid: int | None = None, **kwargs: Any) -> None:
    """A pool process ended: its live gauges leave the sums (PROMETHEUS_MULTIPROC_DIR, lib/metrics.py)."""
    from lib.metrics import process_dead

    process_dead(pid or os.getpid())


@worker_shutdown.connect
@worker_process_shutdown.connect
def send_embedding_groups(**kwargs: Any) -> None:
    """The runs that ended in this process's last moment are embedded too: their messages wait to be sent as one
    task (memory.services.embedding_dispatch), and the worker stops after its last task."""
    from memory.services.embedding_dispatch import embedding_groups_send

    embedding_groups_send()


@worker_init.connect
def watch_shutdown(**kwargs: Any) -> None:
    """Before the pool forks: its processes learn of the worker's warm shutdown (hand_back_runs)."""
    from agents.runtime.lease import shutdown_watch

    shutdown_watch()


@worker_init.connect
def warm_llm_client(**kwargs: Any) -> None:
    """Before the pool forks: the LLM client library is loaded once here, not by every pool process in its first
    run (agents.runtime.llm.warm)."""
    from agents.runtime.llm import warm

    warm()


@worker_init.connect
def start_tracing(**kwargs: Any) -> None:
    """OpenTelemetry spans of the runs this worker executes, when the OTEL_* settings ask for them (lib/tracing.py;
    the SDK's span processor restarts its thread in forked pool processes)."""
    from lib.tracing import setup

    setup()


@worker_ready.connect
def resume_lost_files(**kwargs: Any) -> None:
    """Files whose processing a dead worker left half-way are started again (files.services.processing)."""
    from files.services.processing import files_resume_stale

    files_resume_stale()
