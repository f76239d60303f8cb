"""The fair dispatcher (agents.runtime.dispatch): a cap on each organization's runs in flight, oldest first across
its agents, each agent's runs in order, race-safe, and nothing stranded queued."""

import datetime as dt
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.utils import timezone

from agents.models import Run, RunStatus
from agents.runtime import executor
from agents.runtime.dispatch import runs_schedule, runs_sweep
from agents.runtime.loop import run_execute
from agents.runtime.waiting import run_wait
from agents.services.agents import agent_create
from agents.services.runs import run_cancel, run_create


def send(user, agent, text="hi"):
    return run_create(actor=user, agent=agent, messages=[{"role": "user", "content": text}])


@pytest.fixture
def agents_of_alice(alice, fake_llm):
    return [agent_create(actor=alice, name=f"a{i}", model="openai/gpt-4o-mini") for i in range(5)]


@pytest.mark.django_db
def test_it_dispatches_at_most_the_cap_per_organization_oldest_first(alice, charlie, agents_of_alice, settings):
    settings.ENGRAM_ORG_MAX_ACTIVE_RUNS = 2
    runs = [send(alice, agent) for agent in agents_of_alice]
    org = agents_of_alice[0].organization_id
    assert runs_schedule(organization_id=org) == [runs[0].id, runs[1].id]
    assert runs_schedule(organization_id=org) == []  # full: the other three stay in the database
    assert list(Run.objects.exclude(dispatched_at=None).values_list("id", flat=True).order_by("created_at")) == [
        runs[0].id,
        runs[1].id,
    ]
    # Another organization has slots of its own.
    b_agent = agent_create(actor=charlie, model="openai/gpt-4o-mini")
    b_run = send(charlie, b_agent)
    assert runs_schedule(organization_id=b_agent.organization_id) == [b_run.id]
    # A run that ends frees its slot for its organization's oldest waiting run.
    run_execute(run_id=runs[0].id, token="test")
    assert runs_schedule(organization_id=org) == [runs[2].id]


@pytest.mark.django_db
def test_it_keeps_an_agents_runs_in_order_and_one_at_a_time(alice, agents_of_alice, settings):
    settings.ENGRAM_ORG_MAX_ACTIVE_RUNS = 3
    first, second = agents_of_alice[:2]
    r1, r2, r3 = send(alice, first, "1"), send(alice, first, "2"), send(alice, second, "3")
    # The first agent's second send waits for its first, even with a free slot; the other agent goes ahead.
    assert runs_schedule(organization_id=first.organization_id) == [r1.id, r3.id]
    run_execute(run_id=r1.id, token="test")
    assert runs_schedule(organization_id=first.organization_id) == [r2.id]


@pytest.mark.django_db
def test_a_cancelled_run_gives_its_slot_back(alice, agents_of_alice, settings):
    settings.ENGRAM_ORG_MAX_ACTIVE_RUNS = 1
    r1, r2 = send(alice, agents_of_alice[0]), send(alice, agents_of_alice[1])
    org = r1.organization_id
    assert runs_schedule(organization_id=org) == [r1.id]
    run_cancel(run=r1)
    assert runs_schedule(organization_id=org) == [r2.id]


@pytest.mark.django_db
def test_a_dispatched_run_that_cannot_be_claimed_gives_its_slot_back(alice, agents_of_alice, settings):
    settings.ENGRAM_ORG_MAX_ACTIVE_RUNS = 1
    agent = agents_of_alice[0]
    r1, r2 = send(alice, agent, "1"), send(alice, agent, "2")
    # A dispatch of the agent's second send while its first still waits (e.g. sent by an older version).
    Run.objects.filter(pk=r2.pk).update(dispatched_at=timezone.now())
    assert runs_schedule(organization_id=agent.organization_id) == []  # the stray dispatch holds the only slot
    run_execute(run_id=r2.id, token="test")  # not first in line: refused, and the slot is released
    assert Run.objects.get(pk=r2.pk).dispatched_at is None
    assert runs_schedule(organization_id=agent.organization_id) == [r1.id]


@pytest.mark.django_db(transaction=True)
def test_concurrent_dispatchers_never_exceed_the_cap(alice, agents_of_alice, settings):
    settings.ENGRAM_ORG_MAX_ACTIVE_RUNS = 2
    for agent in agents_of_alice:
        send(alice, agent)
    org = agents_of_alice[0].organization_id
    barrier = threading.Barrier(5)

    def one(_):
        barrier.wait()
        try:
            return runs_schedule(organization_id=org)
        finally:
            connection.close()

    with ThreadPoolExecutor(5) as pool:
        chosen = [run_id for ids in pool.map(one, range(5)) for run_id in ids]
    assert len(chosen) == 2
    assert Run.objects.exclude(dispatched_at=None).count() == 2


@pytest.mark.django_db(transaction=True)
def test_the_sweep_resends_lost_dispatches_and_starts_runs_nobody_dispatched(alice, agents_of_alice, settings):
    settings.ENGRAM_ORG_MAX_ACTIVE_RUNS = 2
    lost = send(alice, agents_of_alice[0])  # its dispatch went to a pool or broker that lost it
    Run.objects.filter(pk=lost.pk).update(dispatched_at=timezone.now() - dt.timedelta(hours=1))
    never = send(alice, agents_of_alice[1])  # its hand-off failed (released), nothing dispatched it since
    settings.ENGRAM_RUN_EXECUTOR = "inprocess"
    executor.shutdown()
    try:
        runs_sweep()
        assert run_wait(run_id=lost.id, timeout=30).status == RunStatus.COMPLETED
        assert run_wait(run_id=never.id, timeout=30).status == RunStatus.COMPLETED
    finally:
        executor.shutdown()


@pytest.mark.django_db(transaction=True)
def test_runs_wait_queued_in_the_database_not_in_the_pool(alice, agents_of_alice, fake_llm, settings):
    from tests.fakes.llm_server import Reply

    settings.ENGRAM_ORG_MAX_ACTIVE_RUNS = 1
    settings.ENGRAM_RUN_EXECUTOR = "inprocess"
    executor.shutdown()
    fake_llm.default = Reply(text="slow", delay=0.5)
    try:
        runs = [send(alice, agent) for agent in agents_of_alice]
        in_flight = Run.objects.filter(status=RunStatus.RUNNING) | Run.objects.exclude(dispatched_at=None).filter(
            status=RunStatus.QUEUED
        )
        assert in_flight.count() == 1  # one handed to the pool, four wait in the database
        for run in runs:
            assert run_wait(run_id=run.id, timeout=60).status == RunStatus.COMPLETED
    finally:
        executor.shutdown()
    done = list(Run.objects.order_by("started_at"))
    assert [r.id for r in done] == [r.id for r in runs]  # oldest first
    for earlier, later in zip(done, done[1:], strict=False):
        assert earlier.completed_at <= later.started_at


@pytest.mark.django_db
def test_scheduling_a_send_costs_two_statements_and_the_lock(alice, agents_of_alice, django_assert_num_queries):
    from django.db import transaction

    run = send(alice, agents_of_alice[0])
    with transaction.atomic(), django_assert_num_queries(3 if connection.vendor == "postgresql" else 2):
        assert runs_schedule(organization_id=run.organization_id, look_first=False) == [run.id]


@pytest.mark.django_db(transaction=True)
def test_a_pool_shut_down_leaves_no_reaping_behind_in_its_process(alice, agents_of_alice, settings):
    settings.ENGRAM_RUN_REAP_SECONDS = 1
    settings.ENGRAM_RUN_LEASE_SECONDS = 3
    settings.ENGRAM_RUN_EXECUTOR = "inprocess"
    executor.start()  # reaps from now on, every second
    executor.shutdown()
    settings.ENGRAM_RUN_EXECUTOR = "manual"
    run = send(alice, agents_of_alice[0])
    # Its worker died mid-run: a lease that lapsed an hour ago (what a reaper recovers).
    lapsed = timezone.now() - dt.timedelta(hours=1)
    Run.objects.filter(pk=run.pk).update(
        status=RunStatus.RUNNING, claim_token="gone-worker", started_at=lapsed, lease_until=lapsed
    )
    time.sleep(3)
    assert Run.objects.get(pk=run.pk).status == RunStatus.RUNNING  # nobody here reaped it
