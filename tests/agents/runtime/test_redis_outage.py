"""Redis restarts under the production profile, for real: a Redis of the test's own (append-only file, as
compose.yaml runs it) that the test stops (SIGTERM) and starts again on the same port, a Celery worker on it, and a
daphne whose channel layer is channels-redis on it.

A run in flight when Redis goes away finishes (its worker only needs the database), and the stream the client has
open follows it from the database to its end; its events are re-readable afterwards (`POST /v1/runs/{id}/stream`,
the history). A send made while Redis is down is accepted, and runs once Redis is back (the worker's dispatch sweep
hands it over; the worker and daphne reconnect by themselves). A send after the restart completes."""

import json
import os
import subprocess
import sys
import threading
import time

import httpx
import pytest

from accounts.services import apikey_create
from agents.models import Message, Run, RunStatus
from agents.services.agents import agent_create
from lib.ids import public_id
from tests.agents.runtime.test_execution import echo, start_worker, wait_until
from tests.agents.runtime.test_recovery import ROOT, sse
from tests.backing import RedisServer, free_port, stop_group
from tests.fakes.llm_server import Reply

pytestmark = [pytest.mark.django_db(transaction=True)]


def start_daphne(redis_url, fake_llm, port):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.agents.worker_settings",  # the test database, Celery on this Redis
        "ENGRAM_TEST_REDIS_URL": redis_url,
        "ENGRAM_TEST_CHANNELS_REDIS": "1",
        "OPENAI_API_BASE": fake_llm.base_url,
        "OPENAI_API_KEY": "sk-fake",
    }
    command = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"]
    return subprocess.Popen(  # noqa: S603
        command, cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def healthy(url):
    try:
        return httpx.get(f"{url}/v1/health/", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_a_redis_restart_loses_no_run_and_no_event_a_client_cannot_read_again(alice, fake_llm):
    fake_llm.default = echo
    agent = agent_create(actor=alice, model="openai/gpt-4o-mini")
    agent_id = public_id("agent", agent.id)
    headers = {"Authorization": f"Bearer {apikey_create(user=alice, name='redis').raw_key}"}
    redis = RedisServer(appendonly=True).start()
    # The run in flight outlives the broker's visibility timeout only if the test is very slow; the dispatch sweep
    # runs every second so that a send accepted while Redis was away is handed over as soon as it is back.
    worker_env = {
        "ENGRAM_TEST_VISIBILITY_TIMEOUT": "3600",
        "ENGRAM_DISPATCH_SWEEP_SECONDS": "1",
        "ENGRAM_TEST_CHANNELS_REDIS": "1",  # its events go through this Redis, as in production
    }
    worker = start_worker(redis.url, fake_llm.base_url, pool="threads", concurrency=2, env=worker_env)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    daphne = start_daphne(redis.url, fake_llm, port)
    api = httpx.Client(base_url=url, headers=headers, timeout=120)

    def send(text):
        return api.post(f"/v1/agents/{agent_id}/messages", json={"messages": [{"role": "user", "content": text}]})

    streamed, results = [], {}
    try:
        assert wait_until(lambda: healthy(url), timeout=90), "daphne did not start"
        before = send("before")  # the worker is up and consuming
        assert before.status_code == 200, before.text[:500]

        fake_llm.push(Reply(text="slow answer", delay=5))  # Redis goes away while the model thinks
        asked = len(fake_llm.chat_requests())

        def stream():
            body = {"messages": [{"role": "user", "content": "during"}], "stream_tokens": True}
            with api.stream("POST", f"/v1/agents/{agent_id}/messages/stream", json=body) as response:
                streamed.extend(sse(response.iter_lines()))

        streaming = threading.Thread(target=stream)
        streaming.start()
        assert wait_until(lambda: len(fake_llm.chat_requests()) > asked, timeout=60), "the run never started"
        redis.stop()
        down = threading.Thread(target=lambda: results.setdefault("down", send("while down")))
        down.start()
        streaming.join(timeout=60)  # the run ends, and its stream with it, while Redis is still away
        assert not streaming.is_alive(), "the open stream did not end while Redis was down"
        assert down.is_alive()  # accepted and waiting for a worker
        redis.start()
        back_at = time.monotonic()
        down.join(timeout=120)
        after = send("after")
        after_in = time.monotonic() - back_at
        run = Run.objects.get(agent=agent, messages__text="during")
        replay = httpx.post(f"{url}/v1/runs/{public_id('run', run.id)}/stream", json={}, headers=headers, timeout=60)
        replayed = list(sse(replay.text.splitlines()))
        history = api.get(f"/v1/agents/{agent_id}/messages", params={"limit": 100, "order": "asc"}).json()
    finally:
        api.close()
        stop_group(daphne)
        stop_group(worker)
        redis.remove()
    # The stream that was open through the outage got the whole reply (from the stored row: the token deltas went
    # nowhere) and its normal end, and replaying the run gives the same messages.
    texts = [p.get("content") for p in streamed if p.get("message_type") == "assistant_message"]
    assert "".join(texts) == "slow answer", json.dumps(streamed)[:2000]
    assert [p["message_type"] for p in streamed][-2:] == ["stop_reason", "usage_statistics"]

    def replies_of(frames):
        return {p["id"] for p in frames if p.get("message_type") == "assistant_message"}

    assert replies_of(streamed) == replies_of(replayed) and len(replies_of(replayed)) == 1
    # The send made during the outage was accepted and answered once Redis was back; so was the one after it.
    assert results["down"].status_code == 200, results["down"].text[:500]
    assert after.status_code == 200, after.text[:500]
    assert after_in < 60, f"a send after the restart took {after_in:.1f} s"
    replies = [m["content"] for m in history if m["message_type"] == "assistant_message"]
    assert replies == ["echo: before", "slow answer", "echo: while down", "echo: after"]
    users = list(Message.objects.filter(agent=agent, role="user").order_by("seq").values_list("text", flat=True))
    assert users == ["before", "during", "while down", "after"]  # each once
    assert set(Run.objects.filter(agent=agent).values_list("status", flat=True)) == {RunStatus.COMPLETED}
