"""Recovery under faults, for real: a Celery worker SIGKILLed mid-step (its run is handed back by the lease reaper
within seconds and resumed by another worker, the run queued behind it proceeds), a worker's warm shutdown
(SIGTERM: the step in flight finishes, the run goes back to the queue), a run that keeps killing its holder
(failed with the reason), and the embedded server SIGKILLed mid-run and restarted on the same data."""

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time

import httpx
import pytest
from django.utils import timezone

from accounts.services import apikey_create
from agents.models import Message, Run, RunStatus, Step
from agents.runtime import lease
from agents.runtime.lifecycle import run_claim
from agents.runtime.loop import run_execute
from agents.runtime.waiting import run_wait
from agents.services.agents import agent_create
from agents.services.runs import run_create
from lib.ids import public_id
from memory.models import Block, BlockRevision
from tests.agents.runtime.test_execution import echo, start_worker, wait_until
from tests.backing import free_port, stop_group
from tests.fakes.llm_server import Reply, ToolCall

pytestmark = [pytest.mark.django_db(transaction=True)]
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
# Leases lapse after 3 s and are looked for every second; the broker would redeliver only after an hour.
FAST_RECOVERY = {
    "ENGRAM_RUN_LEASE_SECONDS": "3",
    "ENGRAM_RUN_REAP_SECONDS": "1",
    "ENGRAM_TEST_VISIBILITY_TIMEOUT": "3600",
}


def history(agent):
    return [(m.role, m.text) for m in Message.objects.filter(agent=agent).order_by("seq")]


# The history of a recovered run (it wrote memory, its holder died waiting on step 1) and of the run behind it.
JAZZ_THEN_BLUES = [
    ("user", "I like jazz"),
    ("assistant", ""),
    ("tool", "The memory block 'human' has been updated."),
    ("assistant", "echo: The memory block 'human' has been updated."),
    ("user", "and blues"),
    ("assistant", "echo: and blues"),
]


def remember_jazz(alice):
    return agent_create(
        actor=alice, model="openai/gpt-4o-mini", memory_blocks=[{"label": "human", "value": "", "limit": 500}]
    )


def test_a_run_whose_worker_was_killed_is_resumed_by_another_within_seconds(alice, celery_redis, fake_llm):
    agent = remember_jazz(alice)
    fake_llm.push(Reply(tool_calls=[ToolCall("memory_insert", {"label": "human", "new_string": "Likes jazz."})]))
    fake_llm.push(Reply(text="too late", delay=60))  # the worker dies while waiting for this one
    fake_llm.default = echo
    first = start_worker(celery_redis, fake_llm.base_url, env=FAST_RECOVERY)
    second = None
    try:
        run = run_create(actor=alice, agent=agent, messages=[{"role": "user", "content": "I like jazz"}])
        behind = run_create(actor=alice, agent=agent, messages=[{"role": "user", "content": "and blues"}])
        assert wait_until(lambda: len(fake_llm.chat_requests()) >= 2, timeout=120), "worker never reached step 1"
        stop_group(first, signal.SIGKILL)
        killed_at = time.monotonic()
        second = start_worker(celery_redis, fake_llm.base_url, env=FAST_RECOVERY)
        final = run_wait(run_id=run.id, timeout=120)
        recovered_in = time.monotonic() - killed_at
        assert run_wait(run_id=behind.id, timeout=90).status == RunStatus.COMPLETED
    finally:
        stop_group(first, signal.SIGKILL)
        if second is not None:
            stop_group(second)
    assert final.status == RunStatus.COMPLETED, final.error
    # Generous (a worker boots on a loaded machine); without the reaper, the broker would redeliver after an hour.
    assert recovered_in < 150, f"recovered after {recovered_in:.1f} s"
    assert final.recoveries == 1
    assert list(Step.objects.filter(run=run).values_list("index", flat=True)) == [0, 1]
    assert history(agent) == JAZZ_THEN_BLUES
    assert Block.objects.get(agents=agent, label="human").value == "Likes jazz."
    assert BlockRevision.objects.count() == 1  # the memory write was not repeated
    assert Run.objects.get(pk=behind.pk).started_at >= final.completed_at


def test_sigterm_lets_the_step_in_flight_finish_and_hands_the_run_back(alice, celery_redis, fake_llm):
    agent = remember_jazz(alice)
    fake_llm.push(Reply(tool_calls=[ToolCall("memory_insert", {"label": "human", "new_string": "Likes jazz."})]))
    fake_llm.push(
        Reply(tool_calls=[ToolCall("memory_insert", {"label": "human", "new_string": "Likes blues."})], delay=3)
    )
    fake_llm.default = Reply(text="Noted.")
    first = start_worker(celery_redis, fake_llm.base_url, pool="prefork", env=FAST_RECOVERY)
    second = None
    try:
        run = run_create(actor=alice, agent=agent, messages=[{"role": "user", "content": "I like jazz and blues"}])
        assert wait_until(lambda: len(fake_llm.chat_requests()) >= 2, timeout=120), "worker never reached step 1"
        os.kill(first.pid, signal.SIGTERM)  # as `docker stop` does: the worker's main process only
        first.wait(timeout=30)
        handed_back = Run.objects.get(pk=run.pk)
        steps_then = list(Step.objects.filter(run=run).values_list("index", flat=True))
        second = start_worker(celery_redis, fake_llm.base_url, env=FAST_RECOVERY)
        final = run_wait(run_id=run.id, timeout=120)
    finally:
        stop_group(first, signal.SIGKILL)
        if second is not None:
            stop_group(second)
    assert steps_then == [0, 1]  # the step in flight was finished and stored before the worker left
    assert (handed_back.status, handed_back.claim_token, handed_back.recoveries) == (RunStatus.QUEUED, "", 0)
    assert (final.status, final.stop_reason) == (RunStatus.COMPLETED, "end_turn")
    assert list(Step.objects.filter(run=run).values_list("index", flat=True)) == [0, 1, 2]
    assert len(fake_llm.chat_requests()) == 3  # no step was asked twice
    assert [role for role, _ in history(agent)] == ["user", "assistant", "tool", "assistant", "tool", "assistant"]
    assert BlockRevision.objects.count() == 2


def test_a_run_whose_holders_keep_dying_fails_with_the_reason_and_the_next_run_proceeds(alice, fake_llm, settings):
    settings.ENGRAM_RUN_EXECUTOR = "manual"
    settings.ENGRAM_RUN_MAX_RECOVERIES = 1
    agent = agent_create(actor=alice, model="openai/gpt-4o-mini")
    fake_llm.default = echo
    doomed = run_create(actor=alice, agent=agent, messages=[{"role": "user", "content": "first"}])
    behind = run_create(actor=alice, agent=agent, messages=[{"role": "user", "content": "second"}])
    for holder in ("celery-dead-1", "celery-dead-2"):
        assert run_claim(run_id=doomed.id, token=holder) is not None
        Run.objects.filter(pk=doomed.pk).update(lease_until=timezone.now() - dt.timedelta(seconds=1))
        assert lease.runs_reap() == [doomed.id]
    assert lease.runs_reap() == []  # reaped once only
    final = Run.objects.get(pk=doomed.pk)
    assert (final.status, final.stop_reason, final.recoveries) == (RunStatus.FAILED, "error", 1)
    assert "stopped 2 times" in final.error and "ENGRAM_RUN_MAX_RECOVERIES=1" in final.error
    run_execute(run_id=behind.id, token="celery-next")  # first in line now
    assert Run.objects.get(pk=behind.pk).status == RunStatus.COMPLETED


def test_a_live_holders_lease_is_renewed_and_not_reaped(alice, fake_llm, settings):
    settings.ENGRAM_RUN_EXECUTOR = "manual"
    agent = agent_create(actor=alice, model="openai/gpt-4o-mini")
    run = run_create(actor=alice, agent=agent, messages=[{"role": "user", "content": "hi"}])
    assert run_claim(run_id=run.id, token="celery-alive") is not None
    Run.objects.filter(pk=run.pk).update(lease_until=timezone.now() - dt.timedelta(seconds=1))
    lease.lease_hold(run_id=run.id, token="celery-alive")
    try:
        assert lease.leases_renew() == 1
    finally:
        lease.lease_drop(run_id=run.id)
    assert lease.runs_reap() == []
    assert Run.objects.get(pk=run.pk).status == RunStatus.RUNNING


def start_embedded_server(fake_llm, port):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings_test",
        "ENGRAM_TEST_SERVE_TEST_DB": "1",
        "OPENAI_API_BASE": fake_llm.base_url,
        "OPENAI_API_KEY": "sk-fake",
        "ENGRAM_RUN_EXECUTOR": "inprocess",
    }
    command = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"]
    return subprocess.Popen(
        command, cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def sse(lines):
    """The JSON payloads of SSE `data:` lines as they arrive (stops at [DONE] or when the connection drops)."""
    try:
        for line in lines:
            if line.startswith("data: ") and line != "data: [DONE]":
                yield json.loads(line[6:])
    except httpx.HTTPError:
        return


def wait_healthy(url):
    assert wait_until(lambda: _healthy(url), timeout=90), "the server did not start"


def _healthy(url):
    try:
        return httpx.get(f"{url}/v1/health/", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_the_embedded_server_killed_mid_run_finishes_it_after_a_restart_and_the_stream_resumes(
    alice, fake_llm, settings
):
    settings.ENGRAM_RUN_EXECUTOR = "manual"  # the server, not this process, runs them
    agent = remember_jazz(alice)
    key = apikey_create(user=alice, name="resume").raw_key
    fake_llm.push(Reply(tool_calls=[ToolCall("memory_insert", {"label": "human", "new_string": "Likes jazz."})]))
    fake_llm.push(Reply(text="too late", delay=60))  # the server dies while waiting for this one
    fake_llm.default = echo
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {key}"}
    server = start_embedded_server(fake_llm, port)
    restarted = None
    try:
        wait_healthy(url)
        before = []
        body = {"input": "I like jazz", "include_pings": False}
        send = f"{url}/v1/agents/{public_id('agent', agent.id)}/messages/stream"
        with httpx.stream("POST", send, json=body, headers=headers, timeout=90) as response:
            for payload in sse(response.iter_lines()):
                before.append(payload)
                if payload["message_type"] == "tool_return_message":  # step 0 is stored; step 1 waits on the model
                    assert wait_until(lambda: len(fake_llm.chat_requests()) >= 2, timeout=60)
                    stop_group(server, signal.SIGKILL)
        run = Run.objects.get(agent=agent)
        assert run.status == RunStatus.RUNNING
        behind = run_create(actor=alice, agent=agent, messages=[{"role": "user", "content": "and blues"}])
        restarted = start_embedded_server(fake_llm, port)  # it recovers the run on its own: no request needed
        final = run_wait(run_id=run.id, timeout=90)
        assert run_wait(run_id=behind.id, timeout=90).status == RunStatus.COMPLETED
        wait_healthy(url)
        last_seq = max(p["seq_id"] for p in before if p.get("seq_id") is not None)
        resumed = httpx.post(
            f"{url}/v1/runs/{public_id('run', run.id)}/stream", json={"starting_after": last_seq}, headers=headers
        )
        after = list(sse(resumed.text.splitlines()))
        whole = httpx.post(f"{url}/v1/runs/{public_id('run', run.id)}/stream", json={}, headers=headers)
        replayed = list(sse(whole.text.splitlines()))
    finally:
        stop_group(server, signal.SIGKILL)
        if restarted is not None:
            stop_group(restarted)
    assert (final.status, final.recoveries) == (RunStatus.COMPLETED, 1), final.error
    # What the client got before the server died, then after resuming, is the run's record: no gap, no repeat.
    pieces = [(p["id"], p["message_type"]) for p in before + after if "id" in p]
    assert pieces == [(p["id"], p["message_type"]) for p in replayed if "id" in p]
    assert len(set(pieces)) == len(pieces)
    assert [p["message_type"] for p in after][-2:] == ["stop_reason", "usage_statistics"]
    assert not Run.objects.filter(status__in=[RunStatus.QUEUED, RunStatus.RUNNING]).exists()
    assert list(Step.objects.filter(run=run).values_list("index", flat=True)) == [0, 1]
    assert history(agent) == JAZZ_THEN_BLUES
    assert BlockRevision.objects.count() == 1
