"""One organization cannot starve another: a burst of slow runs from org A (alice) on many agents, then one
message from org B (charlie). B's run must start within about one run's time, on both executors, and A never has
more than ENGRAM_ORG_MAX_ACTIVE_RUNS runs in flight."""

import datetime as dt
import time

import pytest
from django.utils import timezone

from agents.models import Run, RunStatus
from agents.runtime import executor
from agents.runtime.waiting import run_wait
from agents.services.agents import agent_create
from agents.services.runs import run_create
from tests.agents.runtime.test_execution import start_worker, wait_until
from tests.backing import ensure_redis, stop_group
from tests.fakes.llm_server import Reply

pytestmark = [pytest.mark.django_db(transaction=True)]
SLOW = 1.5  # seconds one of org A's runs takes (its one LLM call)


def slow_for_a(body):
    text = body["messages"][-1]["content"]
    return Reply(text="slow", delay=SLOW) if "burst" in str(text) else Reply(text="fast")


def burst(alice, count):
    agents = [agent_create(actor=alice, name=f"a{i}", model="openai/gpt-4o-mini") for i in range(count)]
    return [
        run_create(actor=alice, agent=a, messages=[{"role": "user", "content": f"burst {i}"}])
        for i, a in enumerate(agents)
    ]


def most_at_once(runs):
    """The largest number of the runs that were running at the same moment."""
    edges = sorted([(r.started_at, 1) for r in runs] + [(r.completed_at, -1) for r in runs])
    now = peak = 0
    for _, step in edges:
        now += step
        peak = max(peak, now)
    return peak


def assert_b_is_not_starved(alice, charlie, count):
    b_agent = agent_create(actor=charlie, model="openai/gpt-4o-mini")
    # B's first message warms the executor up (a worker's first LLM call imports and sets up the client).
    first = run_create(actor=charlie, agent=b_agent, messages=[{"role": "user", "content": "hi"}])
    assert run_wait(run_id=first.id, timeout=60).status == RunStatus.COMPLETED
    a_runs = burst(alice, count)
    # B sends once A's burst is under way (a Celery worker takes a moment to start).
    assert wait_until(lambda: Run.objects.filter(status=RunStatus.RUNNING).exists(), timeout=60), "nothing ran"
    time.sleep(0.2)
    sent = time.monotonic()
    b_run = run_create(actor=charlie, agent=b_agent, messages=[{"role": "user", "content": "hello"}])
    b_done = run_wait(run_id=b_run.id, timeout=120)
    waited = time.monotonic() - sent
    assert b_done.status == RunStatus.COMPLETED, (b_done.status, b_done.error)
    # Today's behaviour without fairness: B waits behind A's whole burst (several SLOW rounds).
    assert waited < SLOW, f"org B's message waited {waited:.1f} s behind org A's burst (one run takes {SLOW} s)"
    finished = [run_wait(run_id=r.id, timeout=120) for r in a_runs]
    assert [r.status for r in finished] == [RunStatus.COMPLETED] * count  # A's burst is delayed, never dropped
    return finished


def test_a_burst_from_one_organization_does_not_starve_another_in_process(alice, charlie, fake_llm, settings):
    settings.ENGRAM_RUN_EXECUTOR = "inprocess"
    settings.ENGRAM_INPROCESS_WORKERS = 4
    settings.ENGRAM_ORG_MAX_ACTIVE_RUNS = 2
    executor.shutdown()  # a pool of the size set here
    fake_llm.default = slow_for_a
    try:
        finished = assert_b_is_not_starved(alice, charlie, count=8)
    finally:
        executor.shutdown()
    assert most_at_once(finished) <= 2  # org A never held more than its cap of the pool
    assert Run.objects.filter(status__in=[RunStatus.QUEUED, RunStatus.RUNNING]).count() == 0


@pytest.mark.slow
@pytest.mark.usefixtures("celery_redis")
def test_a_burst_from_one_organization_does_not_starve_another_on_celery(alice, charlie, fake_llm, settings):
    settings.ENGRAM_ORG_MAX_ACTIVE_RUNS = 1
    fake_llm.default = slow_for_a
    worker = start_worker(
        ensure_redis(), fake_llm.base_url, pool="threads", concurrency=2, env={"ENGRAM_ORG_MAX_ACTIVE_RUNS": "1"}
    )
    try:
        finished = assert_b_is_not_starved(alice, charlie, count=5)
    finally:
        stop_group(worker)
    assert most_at_once(finished) == 1


@pytest.mark.slow
@pytest.mark.usefixtures("celery_redis")
def test_a_celery_worker_sends_runs_whose_dispatch_was_lost(alice, fake_llm, settings):
    settings.ENGRAM_RUN_EXECUTOR = "manual"  # nothing reaches the broker from here, as if it lost the messages
    first, second = (agent_create(actor=alice, name=f"a{i}", model="openai/gpt-4o-mini") for i in range(2))
    lost = run_create(actor=alice, agent=first, messages=[{"role": "user", "content": "lost"}])
    Run.objects.filter(pk=lost.pk).update(dispatched_at=timezone.now() - dt.timedelta(hours=1))
    never = run_create(actor=alice, agent=second, messages=[{"role": "user", "content": "never sent"}])
    worker = start_worker(ensure_redis(), fake_llm.base_url)
    try:  # the worker's sweep, when it starts, finds both
        assert run_wait(run_id=lost.id, timeout=60).status == RunStatus.COMPLETED
        assert run_wait(run_id=never.id, timeout=60).status == RunStatus.COMPLETED
    finally:
        stop_group(worker)
