"""A run's messages are embedded once it ends, on the `embeddings` queue: the runs that end in the same moment
(a busy server) in one task, not one task each (memory.services.embedding_dispatch)."""

import base64
import json
import uuid

import pytest
import redis
from django.db import transaction

from agents.models import Message, RunStatus
from agents.runtime.lifecycle import run_claim, run_finish
from agents.services.agents import agent_create
from agents.services.runs import run_create
from memory.services import embedding_dispatch
from memory.tasks import embed_groups_task

pytestmark = [pytest.mark.django_db(transaction=True)]


def queued_tasks(redis_url: str, queue: str) -> list[tuple[str, list[object]]]:
    """The Celery messages waiting in a queue of the broker: (task name, positional arguments)."""
    out = []
    for raw in redis.Redis.from_url(redis_url).lrange(queue, 0, -1):
        message = json.loads(raw)
        args = json.loads(base64.b64decode(message["body"]))[0]
        out.append((message["headers"]["task"], args))
    return out


def test_runs_that_end_together_are_embedded_by_one_task(alice, celery_redis, settings):
    settings.ENGRAM_EMBED_MESSAGES = True
    settings.ENGRAM_RUN_EXECUTOR = "manual"
    claimed = []
    for name in ("Biscuit", "Pepper", "Toffee"):
        agent = agent_create(actor=alice, model="openai/gpt-4o-mini")
        run = run_create(actor=alice, agent=agent, messages=[{"role": "user", "content": f"My dog is called {name}"}])
        claimed.append(run_claim(run_id=run.id, token="t"))
    with transaction.atomic():  # three runs end in one moment
        for run in claimed:
            assert run_finish(run=run, status=RunStatus.COMPLETED, stop_reason="end_turn")
    embedding_dispatch._group_sender.flush()
    run_ids = [str(run.id) for run in claimed]
    tasks = queued_tasks(celery_redis, "embeddings")
    assert tasks == [("memory.embed_groups", ["agents.Message", "run_id", run_ids])]
    # What the worker does with it: every message of the three runs is embedded.
    assert embed_groups_task(*tasks[0][1]) == 3
    assert not Message.objects.filter(run_id__in=run_ids, embedding_hash="").exists()
    assert embed_groups_task(*tasks[0][1]) == 0  # a redelivered task finds nothing left to do


def test_a_shutting_down_worker_sends_the_waiting_groups_itself(celery_redis, monkeypatch):
    # A Celery worker that stops (worker_shutdown / worker_process_shutdown) sends the groups of its last moment
    # from its own thread, without waiting for the coalescing delay; the drain already queued then sends nothing.
    monkeypatch.setattr(embedding_dispatch._group_sender, "coalesce_seconds", 3.0)
    run_ids = [str(uuid.uuid4()) for _ in range(2)]
    for run_id in run_ids:
        embedding_dispatch.embed_group_after_commit(label="agents.Message", field="run_id", value=run_id)
    embedding_dispatch.embedding_groups_send()
    sent = [("memory.embed_groups", ["agents.Message", "run_id", run_ids])]
    assert queued_tasks(celery_redis, "embeddings") == sent
    embedding_dispatch._group_sender.flush()
    assert queued_tasks(celery_redis, "embeddings") == sent
