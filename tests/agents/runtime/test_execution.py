"""Execution for real: concurrent sends on a Celery worker over Redis, a worker killed mid-run, and the
in-process executor of the embedded profile."""

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.db import connection

from agents.models import Message, Run, RunStatus, Step
from agents.runtime.waiting import run_wait
from agents.services.agents import agent_create
from agents.services.runs import run_create
from config.celery import app as celery_app
from memory.models import Block, BlockRevision
from tests.backing import stop_group
from tests.fakes.llm_server import Reply, ToolCall

pytestmark = [pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[3]


def start_worker(redis_url, fake_base_url, *, pool="solo", concurrency=1, queues="llm", embed_messages=False, env=None):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.agents.worker_settings",
        "ENGRAM_TEST_REDIS_URL": redis_url,
        "OPENAI_API_BASE": fake_base_url,
        "ENGRAM_LLM_RETRY_BACKOFF_MS": "5",
        "ENGRAM_TEST_EMBED_MESSAGES": "1" if embed_messages else "",
        **(env or {}),
    }
    command = [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", queues, f"--pool={pool}"]
    command += [f"--concurrency={concurrency}", "-l", "warning", "--without-gossip", "--without-mingle"]
    command += ["--without-heartbeat"]
    # The worker's log goes to a file (kept in the temp dir) so that it cannot interleave with pytest's output.
    log = tempfile.NamedTemporaryFile(prefix="engram-worker-", suffix=".log", delete=False)  # noqa: SIM115
    return subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True, stdout=log, stderr=subprocess.STDOUT)


def wait_until(predicate, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def concurrent_sends(alice, agent, count):
    barrier = threading.Barrier(count)

    def one(i):
        barrier.wait()
        try:
            return run_create(actor=alice, agent=agent, messages=[{"role": "user", "content": f"message {i}"}]).id
        finally:
            connection.close()

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(one, range(count)))


def assert_serial_and_ordered(agent, run_ids):
    runs = list(Run.objects.filter(pk__in=run_ids).order_by("position"))
    assert [r.status for r in runs] == [RunStatus.COMPLETED] * len(run_ids), [(r.status, r.error) for r in runs]
    for earlier, later in zip(runs, runs[1:], strict=False):
        assert earlier.completed_at <= later.started_at  # one at a time, in arrival order
    messages = list(Message.objects.filter(agent=agent).order_by("seq"))
    assert [m.run_id for m in messages] == [r.id for r in runs for _ in range(2)]  # never interleaved
    for run, (user, reply) in zip(runs, zip(messages[::2], messages[1::2], strict=True), strict=True):
        assert (user.run_id, user.role, reply.role) == (run.id, "user", "assistant")
        assert reply.text == f"echo: {user.text}"


def echo(body):
    return f"echo: {body['messages'][-1]['content']}"


@pytest.mark.slow
def test_twenty_concurrent_sends_run_one_at_a_time_in_order_on_celery(alice, celery_redis, fake_llm):
    agent = agent_create(actor=alice, model="openai/gpt-4o-mini")
    fake_llm.default = echo
    worker = start_worker(celery_redis, fake_llm.base_url, pool="threads", concurrency=4)
    try:
        run_ids = concurrent_sends(alice, agent, 20)
        for run_id in run_ids:
            assert run_wait(run_id=run_id, timeout=60).status == RunStatus.COMPLETED
    finally:
        stop_group(worker)
    assert_serial_and_ordered(agent, run_ids)


def test_twenty_concurrent_sends_in_process(alice, fake_llm, settings):
    settings.ENGRAM_RUN_EXECUTOR = "inprocess"
    agent = agent_create(actor=alice, model="openai/gpt-4o-mini")
    fake_llm.default = echo
    run_ids = concurrent_sends(alice, agent, 20)
    for run_id in run_ids:
        assert run_wait(run_id=run_id, timeout=60).status == RunStatus.COMPLETED
    assert_serial_and_ordered(agent, run_ids)


@pytest.mark.slow
def test_a_worker_killed_mid_run_is_redelivered_and_completes_without_duplicates(alice, celery_redis, fake_llm):
    agent = agent_create(
        actor=alice, model="openai/gpt-4o-mini", memory_blocks=[{"label": "human", "value": "", "limit": 500}]
    )
    fake_llm.push(Reply(tool_calls=[ToolCall("memory_insert", {"label": "human", "new_string": "Likes jazz."})]))
    fake_llm.push(Reply(text="too late", delay=30))  # the worker dies while waiting for this one
    fake_llm.default = Reply(text="Noted: you like jazz.")
    first = start_worker(celery_redis, fake_llm.base_url)
    second = None
    try:
        run = run_create(actor=alice, agent=agent, messages=[{"role": "user", "content": "I like jazz", "otid": "o1"}])
        assert wait_until(lambda: len(fake_llm.chat_requests()) >= 2, timeout=60), "worker never reached step 1"
        assert Step.objects.filter(run=run).count() == 1
        stop_group(first, signal.SIGKILL)
        second = start_worker(celery_redis, fake_llm.base_url)
        final = run_wait(run_id=run.id, timeout=90)
    finally:
        stop_group(first, signal.SIGKILL)
        if second is not None:
            stop_group(second)
    assert (final.status, final.stop_reason) == (RunStatus.COMPLETED, "end_turn")
    assert list(Step.objects.filter(run=run).values_list("index", flat=True)) == [0, 1]
    history = [(m.role, m.text) for m in Message.objects.filter(agent=agent).order_by("seq")]
    assert history == [
        ("user", "I like jazz"),
        ("assistant", ""),
        ("tool", "The memory block 'human' has been updated."),
        ("assistant", "Noted: you like jazz."),
    ]
    assert Block.objects.get(agents=agent, label="human").value == "Likes jazz."
    assert BlockRevision.objects.count() == 1  # the memory write was not repeated


def test_in_process_runs_left_running_by_a_dead_process_are_resumed(alice, fake_llm, settings):
    import datetime as dt

    from django.utils import timezone

    from agents.runtime import executor
    from agents.runtime.lifecycle import run_claim

    settings.ENGRAM_RUN_EXECUTOR = "manual"
    agent = agent_create(actor=alice, model="openai/gpt-4o-mini")
    stuck = run_create(actor=alice, agent=agent, messages=[{"role": "user", "content": "first"}])
    behind = run_create(actor=alice, agent=agent, messages=[{"role": "user", "content": "second"}])
    run_claim(run_id=stuck.id, token=f"{executor.TOKEN_PREFIX}dead-process")
    an_hour_ago = timezone.now() - dt.timedelta(hours=1)
    Run.objects.filter(pk=stuck.pk).update(started_at=an_hour_ago, lease_until=an_hour_ago)  # nobody renewed it
    fake_llm.default = echo
    settings.ENGRAM_RUN_EXECUTOR = "inprocess"
    executor.shutdown()
    executor._get_pool()  # what a restarted server does on its first dispatch
    assert run_wait(run_id=stuck.id, timeout=30).status == RunStatus.COMPLETED
    assert run_wait(run_id=behind.id, timeout=30).status == RunStatus.COMPLETED
    assert_serial_and_ordered(agent, [stuck.id, behind.id])


def embedded(message_ids):
    return Message.objects.filter(pk__in=message_ids).exclude(embedding_hash="").count() == len(message_ids)


@pytest.mark.slow
def test_a_runs_messages_are_embedded_by_the_worker_when_it_ends(alice, celery_redis, fake_llm):
    agent = agent_create(actor=alice, model="openai/gpt-4o-mini")
    fake_llm.default = Reply(text="Biscuit is a lovely name for a puppy.")
    worker = start_worker(celery_redis, fake_llm.base_url, queues="llm,embeddings", embed_messages=True)
    try:
        run = run_create(actor=alice, agent=agent, messages=[{"role": "user", "content": "My dog is called Biscuit"}])
        assert run_wait(run_id=run.id, timeout=60).status == RunStatus.COMPLETED
        ids = list(Message.objects.filter(run=run).values_list("pk", flat=True))
        assert len(ids) == 2
        assert wait_until(lambda: embedded(ids), timeout=60), "the run's messages were never embedded"
    finally:
        stop_group(worker)


def test_a_runs_messages_are_embedded_in_the_background_when_it_ends(alice, fake_llm, settings, send):
    settings.ENGRAM_EMBED_MESSAGES = True
    agent = agent_create(actor=alice, model="openai/gpt-4o-mini")
    fake_llm.default = Reply(text="Biscuit is a lovely name for a puppy.")
    run = send(agent, "My dog is called Biscuit")
    ids = list(Message.objects.filter(run=run).values_list("pk", flat=True))
    assert len(ids) == 2
    assert wait_until(lambda: embedded(ids), timeout=60), "the run's messages were never embedded"
    # The input of a queued run that is cancelled never runs, and is embedded all the same.
    from agents.services.runs import run_cancel

    settings.ENGRAM_RUN_EXECUTOR = "manual"
    queued = run_create(actor=alice, agent=agent, messages=[{"role": "user", "content": "never mind"}])
    run_cancel(run=queued)
    [pending] = Message.objects.filter(run=queued).values_list("pk", flat=True)
    assert wait_until(lambda: embedded([pending]), timeout=60), "a cancelled run's input was never embedded"


def test_a_wait_wakes_up_when_another_process_announces_the_end_on_redis(celery_redis):
    import redis

    from agents.runtime import waiting as runs

    assert runs._listener.listening()
    run_id, woke = uuid.uuid4(), threading.Event()
    runs._waiters[run_id] = woke
    try:
        redis.Redis.from_url(celery_redis).publish(runs._CHANNEL.format(run_id), b"1")  # what a worker does
        assert woke.wait(10), "the listener did not pass the run's end on"
    finally:
        runs._waiters.pop(run_id, None)


def test_a_worker_keeps_its_database_connection_from_task_to_task():
    from celery.fixups.django import DjangoWorkerFixup

    from agents.runtime.tasks import run_agent

    fixup = DjangoWorkerFixup(celery_app)  # what a worker process installs around every task
    connection.ensure_connection()
    before = connection.connection
    fixup.on_task_postrun(sender=run_agent)
    fixup.on_task_prerun(sender=run_agent)
    assert connection.connection is before  # no new PostgreSQL connection (~3 ms) per run
